"""Which store the CLI uses: --db, then MAILCONDUIT_DB, then the config's database:, then the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailconduit._cli._context import CliContext
from mailconduit._cli._store_access import DEFAULT_DB, secret_key, store_url


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MAILCONDUIT_DB", raising=False)
    monkeypatch.delenv("MAILCONDUIT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "other.yaml"
    path.write_text(f"database: sqlite:///{tmp_path}/from-config.db\nsecret_key: ${{env:MC_TEST_KEY}}\n")
    monkeypatch.setenv("MC_TEST_KEY", "k" * 44)
    return path


def test_config_database_is_used(config_file: Path) -> None:
    assert store_url(CliContext(config_path=str(config_file))).endswith("/from-config.db")
    key = secret_key(CliContext(config_path=str(config_file)))
    assert key is not None and key.source == "env:MC_TEST_KEY"


def test_db_option_and_environment_override_the_config(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store_url(CliContext(config_path=str(config_file), db_url="sqlite:///x.db")) == "sqlite:///x.db"
    monkeypatch.setenv("MAILCONDUIT_DB", "sqlite:///env.db")
    assert store_url(CliContext(config_path=str(config_file))) == "sqlite:///env.db"


def test_default_without_any_config(config_file: Path) -> None:
    assert store_url(CliContext()) == DEFAULT_DB
    assert secret_key(CliContext()) is None
