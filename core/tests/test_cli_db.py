"""`mailconduit db upgrade` and `db current`, on SQLite and the private PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailconduit._cli import cli
from mailconduit._cli._context import CliContext
from mailconduit._cli._store_access import DEFAULT_DB, store_url
from mailconduit._errors import StoreError
from mailconduit._store._engine import create_store_engine
from mailconduit._store._migrate import head_revision, migrate


def test_upgrade_creates_then_reports_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mail.db'}"
    runner = CliRunner()
    first = runner.invoke(cli, ["--db", url, "db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"created the schema at revision {head_revision()}" in first.output
    again = runner.invoke(cli, ["--db", url, "db", "upgrade"])
    assert f"already at revision {head_revision()}" in again.output
    current = runner.invoke(cli, ["--db", url, "db", "current", "--json"])
    assert current.exit_code == 0
    assert json.loads(current.output) == {
        "store": url,
        "revision": head_revision(),
        "head": head_revision(),
        "current": True,
    }


def test_current_on_an_old_store_says_to_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mail.db'}"
    engine = create_store_engine(url)
    migrate(engine, "0001")
    engine.dispose()
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", url, "db", "current"])
    assert result.exit_code == 1
    assert "revision 0001" in result.output and "run `mailconduit db upgrade`" in result.output
    upgraded = runner.invoke(cli, ["--db", url, "db", "upgrade"])
    assert f"upgraded from revision 0001 to {head_revision()}" in upgraded.output


def test_current_on_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'none.db'}", "db", "current"])
    assert result.exit_code == 1 and "revision none" in result.output
    assert not (tmp_path / "none.db").exists()


def test_store_url_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILCONDUIT_DB", raising=False)
    assert store_url(CliContext()) == DEFAULT_DB == "sqlite:///mailconduit.db"
    monkeypatch.setenv("MAILCONDUIT_DB", "sqlite:///from-env.db")
    assert store_url(CliContext()) == "sqlite:///from-env.db"
    assert store_url(CliContext(db_url="sqlite:///from-flag.db")) == "sqlite:///from-flag.db"


def test_env_store_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCONDUIT_DB", f"sqlite:///{tmp_path / 'env.db'}")
    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_bad_url_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mailconduit", "--db", "mysql://u:hunter2@h/x", "db", "upgrade"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: store mysql://u:***@h/x: 'mysql' is not supported")
    assert "hunter2" not in done.stderr + done.stdout


def test_newer_store_is_refused(tmp_path: Path) -> None:
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'mail.db'}"
    CliRunner().invoke(cli, ["--db", url, "db", "upgrade"])
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE mailconduit_alembic_version SET version_num = '0099'"))
    engine.dispose()
    result = CliRunner().invoke(cli, ["--db", url, "db", "upgrade"])
    assert isinstance(result.exception, StoreError)
    assert "does not know" in str(result.exception)
    current = CliRunner().invoke(cli, ["--db", url, "db", "current"])
    assert current.exit_code == 1 and "newer mailconduit" in current.output


@pytest.mark.servers
def test_upgrade_on_postgresql(postgres_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", postgres_url, "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "created the schema" in result.output
    assert runner.invoke(cli, ["--db", postgres_url, "db", "current"]).exit_code == 0
