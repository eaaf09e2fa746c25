"""`mailconduit config check`: every problem and exit 1, or a summary and exit 0; never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailconduit._cli import cli
from mailconduit.testing import canary

VALID = """
secret_key: ${env:MC_TEST_KEY}
accounts:
  support:
    email: support@example.test
    auth:
      method: password
      password: ${env:MC_TEST_PW}
    send: {protocol: memory, host: outbound, port: 2525, tls: none}
    receive: {protocol: memory, host: inbound}
pipelines:
  support-inbox:
    receive: support
    steps: [store, log]
    on_error: [log]
"""

BROKEN = """
accounts:
  support:
    email: support@example.test
    auth: {method: kerberos}
    send: {protocol: memory, host: outbound, port: 99999}
    receive: {protocol: memory, host: inbound, poll_every: often}
pipelines:
  p: {receive: sales, steps: [store]}
"""


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    key, password = canary("fernet-key"), canary("password")
    monkeypatch.setenv("MC_TEST_KEY", key)
    monkeypatch.setenv("MC_TEST_PW", password)
    monkeypatch.delenv("MAILCONDUIT_CONFIG", raising=False)
    monkeypatch.setenv("MAILCONDUIT_DISABLE_PLUGINS", "smtp")  # the summary lists only the built-ins
    return key, password


def write(tmp_path: Path, text: str, name: str = "mailconduit.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_valid_config_prints_a_summary_and_exits_0(tmp_path: Path, secrets: tuple[str, str]) -> None:
    path = write(tmp_path, VALID)
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{path}: OK"
    assert "secret_key: env:MC_TEST_KEY" in lines
    assert (
        "support\tsupport@example.test\tpassword\tmemory outbound:2525 (none)\tmemory inbound (tls)\tINBOX"
        in lines
    )
    assert "support-inbox\tsupport\tstore, log\tlog" in lines
    assert lines[-1] == (
        "plugins used: builtin:actions (mailconduit), builtin:memory (mailconduit), "
        "builtin:password (mailconduit)"
    )
    for secret in secrets:
        assert secret not in result.output


def test_every_problem_is_printed_one_per_line_and_exit_1(tmp_path: Path, secrets: tuple[str, str]) -> None:
    path = write(tmp_path, BROKEN)
    only_builtins = {"MAILCONDUIT_DISABLE_PLUGINS": "entra_oauth,imap,ldap_certs,pop3,smime,smtp"}
    result = CliRunner().invoke(cli, ["config", "check", str(path)], env=only_builtins)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "accounts.support.auth.method: unknown auth method 'kerberos'; available: password",
        "accounts.support.send.port: must be between 1 and 65535, got 99999",
        "accounts.support.receive.poll_every: expected a duration like 20s, 5m, 1h or 1d, got 'often'",
        "pipelines.p.receive: no account 'sales'; accounts: support",
        f"4 problems in {path}",
    ]


def test_json_output(tmp_path: Path, secrets: tuple[str, str]) -> None:
    good = CliRunner().invoke(cli, ["config", "check", "--json", str(write(tmp_path, VALID))])
    assert good.exit_code == 0
    summary = json.loads(good.output)
    assert summary["accounts"][0]["send"] == "memory outbound:2525 (none)"
    assert summary["secret_key"] == "env:MC_TEST_KEY"
    assert summary["pipelines"] == [
        {"pipeline": "support-inbox", "account": "support", "steps": ["store", "log"], "on_error": ["log"]}
    ]
    bad = CliRunner().invoke(cli, ["config", "check", "--json", str(write(tmp_path, BROKEN, "bad.yaml"))])
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert report["source"].endswith("bad.yaml")
    assert {p["path"] for p in report["problems"]} == {
        "accounts.support.auth.method",
        "accounts.support.send.port",
        "accounts.support.receive.poll_every",
        "pipelines.p.receive",
    }


def test_the_config_in_effect_is_found_like_the_other_commands(
    tmp_path: Path, secrets: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = write(tmp_path, VALID, "good.yaml"), write(tmp_path, BROKEN, "bad.yaml")
    assert CliRunner().invoke(cli, ["--config", str(good), "config", "check"]).exit_code == 0
    assert CliRunner().invoke(cli, ["config", "check"], env={"MAILCONDUIT_CONFIG": str(bad)}).exit_code == 1
    # --config wins over the environment
    result = CliRunner().invoke(
        cli, ["--config", str(good), "config", "check"], env={"MAILCONDUIT_CONFIG": str(bad)}
    )
    assert result.exit_code == 0
    # else ./mailconduit.yaml
    monkeypatch.chdir(tmp_path)
    write(tmp_path, VALID)
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 0 and result.output.startswith("mailconduit.yaml: OK")


def test_no_config_anywhere_says_how_to_give_one(
    tmp_path: Path, secrets: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        "no configuration: pass --config FILE, set MAILCONDUIT_CONFIG, or create ./mailconduit.yaml"
    )


def test_db_option_overrides_database_and_passwords_in_urls_are_hidden(
    tmp_path: Path, secrets: tuple[str, str]
) -> None:
    db_password = canary("db-password")
    path = write(tmp_path, VALID)
    result = CliRunner().invoke(
        cli, ["--db", f"postgresql+psycopg://app:{db_password}@db/mail", "config", "check", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "database: postgresql+psycopg://app:***@db/mail" in result.output.splitlines()
    assert db_password not in result.output


def test_a_missing_secret_is_a_problem_naming_the_variable(
    tmp_path: Path, secrets: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MC_TEST_PW")
    result = CliRunner().invoke(cli, ["config", "check", str(write(tmp_path, VALID))])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        "accounts.support.auth.password: "
        "environment variable MC_TEST_PW is not set; set it or change the reference"
    )
    assert secrets[0] not in result.output


def test_local_plugins_named_in_the_file_are_loaded_for_it(tmp_path: Path, secrets: tuple[str, str]) -> None:
    path = write(tmp_path, "plugins: [mc_no_such_module]\n")
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith(
        "plugins[0]: plugin module 'mc_no_such_module' failed to load: ModuleNotFoundError"
    )


def test_a_yaml_syntax_error_names_line_and_column(tmp_path: Path, secrets: tuple[str, str]) -> None:
    path = write(tmp_path, "accounts:\n  a: [\n")
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("line 3, column 1: YAML syntax error:")
