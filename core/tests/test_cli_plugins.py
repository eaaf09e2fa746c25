"""`mailconduit plugins` shows each plugin's origin, hooks, registrations and failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailconduit._cli import cli


def test_plugins_json_lists_builtins_and_their_registrations() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_name = {p["name"]: p for p in report["plugins"]}
    assert by_name["builtin:memory"]["hooks"] == ["register_transports"]
    provided = {(r["kind"], r["name"]) for r in by_name["builtin:memory"]["registered"]}
    assert provided == {("send transport", "memory"), ("receive transport", "memory")}
    assert {r["name"] for r in by_name["builtin:actions"]["registered"]} == {
        "store",
        "log",
        "webhook",
        "forward",
        "reply",
        "move",
        "flag",
        "run",
    }
    assert by_name["builtin:password"]["distribution"] == "mailconduit"


def test_plugins_table_is_plain_text_when_piped() -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0].split("\t") == ["plugin", "from", "version", "hooks", "provides"]
    assert "\x1b[" not in result.output


def test_broken_local_plugin_is_reported_with_name_and_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = types.ModuleType("mc_test_broken_plugin")
    exec(
        "from mailconduit import hookimpl\n@hookimpl\ndef register_transport(register):\n    pass\n",
        broken.__dict__,
    )
    monkeypatch.setitem(sys.modules, "mc_test_broken_plugin", broken)
    config = tmp_path / "mailconduit.yaml"
    config.write_text("plugins: [mc_test_broken_plugin]\naccounts: {}\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "plugins"])
    assert result.exit_code == 0, result.output
    assert "mc_test_broken_plugin" in result.output
    assert "register_transport" in result.output
    assert "failed to load" in result.output
    verbose = CliRunner().invoke(cli, ["--config", str(config), "-v", "plugins", "--json"])
    failure = json.loads(verbose.output)["failures"][0]
    assert failure["plugin"] == "mc_test_broken_plugin"
    assert "Traceback" in failure["traceback"]


def test_plugin_commands_are_listed_and_run_from_the_real_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "mc_cmd_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(
        "from mailconduit import hookimpl\n"
        "@hookimpl\n"
        "def register_commands(register):\n"
        "    register('hello', 'mc_cmd_plugin.cli:hello', help='Say hello from a plugin.')\n"
    )
    (package / "cli.py").write_text(
        "import click\n@click.command()\ndef hello():\n"
        "    '''Say hello.'''\n    click.echo('hello from a plugin')\n"
    )
    config = tmp_path / "mailconduit.yaml"
    config.write_text("plugins: [mc_cmd_plugin.plugin]\naccounts: {}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "MAILCONDUIT_CONFIG": str(config)}
    listed = subprocess.run(
        [sys.executable, "-m", "mailconduit", "--help"], env=env, capture_output=True, text=True
    )
    assert "Say hello from a plugin." in listed.stdout, listed.stdout + listed.stderr
    ran = subprocess.run(
        [sys.executable, "-m", "mailconduit", "hello"], env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0 and ran.stdout.strip() == "hello from a plugin", ran.stderr
