"""Secrets in the YAML: ``${env:NAME}`` / ``${file:PATH}`` resolve, and no value reaches a repr or error."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailconduit import ConfigError, PasswordAuth, PluginSet, Secret, load_plugins
from mailconduit._config import load_config
from mailconduit._config._secrets import resolve_secret, resolving_from
from mailconduit.testing import canary

ACCOUNT = """
secret_key: {key}
accounts:
  a:
    email: a@example.test
    auth:
      method: password
      password: {password}
"""


@pytest.fixture(scope="module")
def core() -> PluginSet:
    return load_plugins(autoload=False)


def _password(config_text: str, core: PluginSet, **kwargs: object) -> Secret:
    config = load_config(config_text, core, **kwargs)  # type: ignore[arg-type]
    auth = config.account("a").auth
    assert isinstance(auth, PasswordAuth)
    return auth.password


def test_plain_text_env_and_file_references(tmp_path: Path, core: PluginSet) -> None:
    secret = canary("password")
    key = canary("fernet-key")
    text = ACCOUNT.format(key="${env:MC_KEY}", password="${env:MC_PW}")
    password = _password(text, core, environ={"MC_PW": secret, "MC_KEY": key})
    assert password.reveal() == secret and password.source == "env:MC_PW"

    inline = _password(ACCOUNT.format(key="k1,k2", password="plain words"), core)
    assert inline.reveal() == "plain words" and inline.source is None

    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pw.txt").write_text("from a file\n")
    config_path = tmp_path / "mailconduit.yaml"
    config_path.write_text(ACCOUNT.format(key="k1,k2", password="${file:secrets/pw.txt}"))
    config = load_config(config_path, core)
    auth = config.account("a").auth
    assert isinstance(auth, PasswordAuth)
    assert auth.password.reveal() == "from a file"  # relative to the config's folder; newline stripped
    assert auth.password.source == "file:secrets/pw.txt"
    assert config.secret_key == Secret("k1,k2")  # rotation keys stay one secret


def test_file_references_are_relative_to_the_config_folder_not_the_cwd(
    tmp_path: Path, core: PluginSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "pw").write_text("right\n")
    (tmp_path / "pw").write_text("wrong\n")
    path = tmp_path / "conf" / "mailconduit.yaml"
    path.write_text(ACCOUNT.format(key="null", password="${file:pw}"))
    monkeypatch.chdir(tmp_path)
    auth = load_config(path, core).account("a").auth
    assert isinstance(auth, PasswordAuth) and auth.password.reveal() == "right"


def test_unresolvable_references_name_the_variable_or_file_at_their_path(
    tmp_path: Path, core: PluginSet
) -> None:
    path = tmp_path / "mailconduit.yaml"
    path.write_text(ACCOUNT.format(key="${env:MC_MISSING_KEY}", password="${file:nowhere/pw.txt}"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, core, environ={})
    assert caught.value.problems == [
        ("secret_key", "environment variable MC_MISSING_KEY is not set; set it or change the reference"),
        (
            "accounts.a.auth.password",
            f"secret file nowhere/pw.txt not found (looked at {tmp_path / 'nowhere' / 'pw.txt'})",
        ),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${vault:x}", "unknown secret reference kind 'vault'; write ${env:NAME} or ${file:PATH}"),
        ("${env:1BAD}", "${env:1BAD} is not a valid environment variable name"),
        ("${env:MC_EMPTY}", "environment variable MC_EMPTY is empty; set it or change the reference"),
        ("${file:}", "${file:} names no file; write ${file:PATH}"),
        ("${nonsense}", "malformed secret reference; write ${env:NAME} or ${file:PATH}"),
    ],
)
def test_malformed_references(value: str, message: str) -> None:
    with resolving_from(Path.cwd(), {"MC_EMPTY": ""}), pytest.raises(ValueError) as caught:
        resolve_secret(value)
    assert str(caught.value) == message


def test_secret_errors_never_show_the_value(core: PluginSet) -> None:
    secret = canary("password")
    # a password given as a number must not be echoed; the other problem makes the error carry both
    text = ACCOUNT.format(key="12345678", password="${env:MC_PW}").replace(
        "email: a@example.test", "email: nope"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(text, core, environ={"MC_PW": secret})
    assert caught.value.problems == [
        ("secret_key", "expected text or a reference ${env:NAME} / ${file:PATH}, got a number"),
        ("accounts.a.email", "'nope' is not a single valid e-mail address"),
    ]
    assert "12345678" not in str(caught.value) and "12345678" not in repr(caught.value)
    assert secret not in str(caught.value) and secret not in repr(caught.value)


def test_reprs_of_config_and_errors_hide_secrets(core: PluginSet) -> None:
    password, key, db_password = canary("password"), canary("fernet-key"), canary("db-password")
    environ = {"MC_PW": password, "MC_KEY": key, "MC_DB": f"postgresql+psycopg://app:{db_password}@db/mail"}
    text = "database: ${env:MC_DB}\n" + ACCOUNT.format(key="${env:MC_KEY}", password="${env:MC_PW}")
    config = load_config(text, core, environ=environ)
    assert config.database.endswith(f":{db_password}@db/mail")  # the URL itself is usable
    shown = repr(config) + str(config)
    for value in (password, key, db_password):
        assert value not in shown
    assert "postgresql+psycopg://app:***@db/mail" in shown
    assert "Secret(*** from env:MC_PW)" in shown

    broken = text + "runner: {health_port: 0}\n"
    with pytest.raises(ConfigError) as caught:
        load_config(broken, core, environ=environ)
    for value in (password, key, db_password):
        assert value not in repr(caught.value) and value not in str(caught.value)
