"""`mailconduit key new` and `key rotate`."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailconduit._cli import cli
from mailconduit._crypto import KEY_ENV, load_keyring
from mailconduit._errors import EncryptionKeyError
from mailconduit._secret import Secret
from mailconduit._store import open_store
from mailconduit._store._repo_secrets import get_secret, put_secret


def test_key_new_prints_one_fresh_key() -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["key", "new"])
    second = runner.invoke(cli, ["key", "new"])
    assert first.exit_code == 0
    key = first.output.strip()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert first.output == key + "\n" and second.output != first.output
    load_keyring(environ={KEY_ENV: key})  # accepted as a key


def test_key_help_explains_env_and_rotation() -> None:
    text = CliRunner().invoke(cli, ["key", "--help"]).output
    assert "MAILCONDUIT_KEY" in text and "NEWEST FIRST" in text and "mailconduit key rotate" in text
    assert "MAILCONDUIT_KEY_FILE" in text and "0600" in text


def test_key_rotate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    old = runner.invoke(cli, ["key", "new"]).output.strip()
    new = runner.invoke(cli, ["key", "new"]).output.strip()
    url = f"sqlite:///{tmp_path / 'mail.db'}"
    store = open_store(url)
    with store.session() as session:
        put_secret(session, load_keyring(environ={KEY_ENV: old}), "s", Secret("value"))
    store.close()
    monkeypatch.setenv(KEY_ENV, f"{new},{old}")
    result = runner.invoke(cli, ["--db", url, "key", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 1 value with the newest key" in result.output
    assert old not in result.output and new not in result.output
    store = open_store(url)
    with store.session() as session:
        value = get_secret(session, load_keyring(environ={KEY_ENV: new}), "s")
        assert value is not None and value.reveal() == "value"
    store.close()


def test_key_rotate_without_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("MAILCONDUIT_KEY_FILE", raising=False)
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'm.db'}", "key", "rotate"])
    assert isinstance(result.exception, EncryptionKeyError)
    assert "mailconduit key new" in str(result.exception)
