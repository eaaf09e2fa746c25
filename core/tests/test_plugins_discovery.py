"""Installed plugins are found through the ``mailconduit.plugins`` entry points, in a real interpreter.

Each test builds throwaway *distributions* (a package plus its ``.dist-info`` with METADATA and
entry_points.txt) in a temporary directory, puts that directory on PYTHONPATH of a fresh Python,
and reads back what ``load_plugins()`` found as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

GOOD_PLUGIN = """
from mailconduit import ActionResult, hookimpl

class Echo:
    def __call__(self, message, context):
        return ActionResult()

@hookimpl
def register_actions(register):
    register("echo", Echo)

@hookimpl
def register_commands(register):
    register("echo-cmd", "mcdisc_good.cli:main", help="Say it again.")
"""

MISSPELT_PLUGIN = """
from mailconduit import hookimpl

@hookimpl
def register_transport(register):  # the hook is register_transports
    pass
"""

CONFLICTING_PLUGIN = """
from mailconduit import ActionResult, hookimpl

@hookimpl
def register_actions(register):
    register("echo", lambda: None)
"""

REPORT = """
import json
from mailconduit import load_plugins
try:
    plugins = load_plugins()
except Exception as exc:
    print(json.dumps({"raised": type(exc).__name__, "message": str(exc)}))
else:
    print(json.dumps({
        "plugins": [
            {"name": p.name, "distribution": p.distribution, "version": p.version, "hooks": list(p.hooks)}
            for p in plugins.plugins if not p.builtin
        ],
        "failures": [
            {"plugin": f.plugin, "distribution": f.distribution, "error": f.error,
             "describe": f.describe(), "traceback": f.traceback}
            for f in plugins.failures
        ],
        "actions": {r.name: r.plugin for r in plugins.registries.actions},
        "commands": {r.name: r.factory for r in plugins.registries.commands},
    }))
"""


def make_distribution(site: Path, dist: str, version: str, package: str, entry: str, code: str) -> None:
    """Write package ``package`` (its ``plugin`` module holds ``code``) and its dist-info into ``site``."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text("")
    (site / package / "plugin.py").write_text(code)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[mailconduit.plugins]\n{entry} = {package}.plugin\n")
    (info / "top_level.txt").write_text(f"{package}\n")


def load_in_subprocess(site: Path, tmp_path: Path, **env: str) -> dict[str, Any]:
    environment = {k: v for k, v in os.environ.items() if k != "MAILCONDUIT_DISABLE_PLUGINS"}
    environment |= {
        "PYTHONPATH": str(site),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # stevedore's entry point cache stays private
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", REPORT],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_installed_plugin_is_discovered_and_its_hooks_called(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_distribution(site, "mcdisc-good", "0.3.1", "mcdisc_good", "mcdisc_good", GOOD_PLUGIN)
    report = load_in_subprocess(site, tmp_path)
    plugin = next(p for p in report["plugins"] if p["name"] == "mcdisc_good")
    assert plugin == {
        "name": "mcdisc_good",
        "distribution": "mcdisc-good",
        "version": "0.3.1",
        "hooks": ["register_actions", "register_commands"],
    }
    assert report["actions"]["echo"] == "mcdisc_good"  # register_actions was called, bound to the plugin
    assert report["actions"]["store"] == "builtin:actions"
    assert report["commands"]["echo-cmd"] == "mcdisc_good.cli:main"
    assert report["failures"] == []


def test_broken_plugin_is_reported_and_does_not_stop_the_others(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_distribution(site, "mcdisc-good", "0.3.1", "mcdisc_good", "mcdisc_good", GOOD_PLUGIN)
    make_distribution(
        site, "mcdisc-broken", "2.0", "mcdisc_broken", "mcdisc_broken", "import mcdisc_no_such_module\n"
    )
    report = load_in_subprocess(site, tmp_path)
    (failure,) = [f for f in report["failures"] if f["plugin"] == "mcdisc_broken"]
    assert failure["distribution"] == "mcdisc-broken"
    assert "No module named 'mcdisc_no_such_module'" in failure["error"]
    assert "Traceback" in failure["traceback"]
    assert "mailconduit plugins -v" in failure["describe"]  # says how to see the traceback
    assert "echo" in report["actions"]
    assert "mcdisc_good" in [p["name"] for p in report["plugins"]]


def test_misspelt_hook_of_an_installed_plugin_is_a_failure_naming_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_distribution(site, "mcdisc-typo", "1.0", "mcdisc_typo", "mcdisc_typo", MISSPELT_PLUGIN)
    make_distribution(site, "mcdisc-good", "0.3.1", "mcdisc_good", "mcdisc_good", GOOD_PLUGIN)
    report = load_in_subprocess(site, tmp_path)
    (failure,) = [f for f in report["failures"] if f["plugin"] == "mcdisc_typo"]
    assert failure["distribution"] == "mcdisc-typo"
    assert "register_transport" in failure["error"]
    assert "mcdisc_typo.plugin" in failure["error"]  # names the plugin module
    assert "mcdisc_typo" not in [p["name"] for p in report["plugins"]]
    assert "echo" in report["actions"]


def test_disabled_installed_plugin_is_neither_loaded_nor_reported(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_distribution(site, "mcdisc-good", "0.3.1", "mcdisc_good", "mcdisc_good", GOOD_PLUGIN)
    make_distribution(
        site, "mcdisc-broken", "2.0", "mcdisc_broken", "mcdisc_broken", "import mcdisc_no_such_module\n"
    )
    report = load_in_subprocess(
        site, tmp_path, MAILCONDUIT_DISABLE_PLUGINS="mcdisc_broken, mcdisc_good,builtin:actions"
    )
    names = [p["name"] for p in report["plugins"]]
    assert "mcdisc_good" not in names
    assert [f for f in report["failures"] if f["plugin"].startswith("mcdisc")] == []
    # actions of other installed distributions (examples/maildir-invoices) may remain
    assert {a: p for a, p in report["actions"].items() if p.startswith(("mcdisc", "builtin:"))} == {}


def test_same_name_from_two_installed_plugins_is_an_error_naming_both(tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_distribution(site, "mcdisc-good", "0.3.1", "mcdisc_good", "mcdisc_good", GOOD_PLUGIN)
    make_distribution(site, "mcdisc-other", "0.1", "mcdisc_other", "mcdisc_other", CONFLICTING_PLUGIN)
    report = load_in_subprocess(site, tmp_path)
    assert report["raised"] == "DuplicateNameError"
    assert "'mcdisc_good'" in report["message"]
    assert "'mcdisc_other'" in report["message"]
    assert "'echo'" in report["message"]
