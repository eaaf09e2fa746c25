"""Migrations create the schema on SQLite and PostgreSQL, keep rows on upgrade, and refuse strangers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from mailconduit._errors import StoreError
from mailconduit._store import open_store, upgrade
from mailconduit._store._engine import create_store_engine
from mailconduit._store._migrate import VERSION_TABLE, current_revision, head_revision, migrate
from mailconduit._store._models import Base

EXPECTED_TABLES = {
    "messages",
    "message_raw",
    "attachments",
    "folder_state",
    "pending_changes",
    "email_log",
    "templates",
    "secrets",
    "token_cache",
    "known_keys",
    "runner_status",
    "learnt_certificates",
    VERSION_TABLE,
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mail.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _schema_diff(url: str) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_creates_the_schema_the_models_describe(url: str) -> None:
    before, after = upgrade(url)
    assert (before, after) == (None, head_revision())
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == EXPECTED_TABLES
    finally:
        engine.dispose()
    assert _schema_diff(url) == []


def test_upgrade_twice_is_a_no_op(url: str) -> None:
    upgrade(url)
    assert upgrade(url) == (head_revision(), head_revision())


def test_upgrade_from_0001_keeps_rows(url: str) -> None:
    engine = create_store_engine(url)
    try:
        migrate(engine, "0001")
        assert current_revision(engine) == "0001"
        with pytest.raises(StoreError, match=r"revision '0001'.*mailconduit db upgrade"):
            open_store(url)
        now = datetime(2025, 3, 1, tzinfo=UTC).replace(tzinfo=None)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO messages (direction, account, status, folder, uidvalidity, uid, sha256,"
                    " size, defects, annotations, created_at, updated_at, attempts) VALUES ('incoming', 'a', "
                    "'received', 'INBOX', 1, 1, :sha, 3, '[]', '{}', :now, :now, 0)"
                ),
                {"sha": "0" * 64, "now": now},
            )
            message_id = connection.execute(text("SELECT id FROM messages")).scalar_one()
            connection.execute(
                text("INSERT INTO message_raw (message_id, raw) VALUES (:id, :raw)"),
                {"id": message_id, "raw": b"abc"},
            )
            connection.execute(
                text("INSERT INTO email_log (time, level, account, text) VALUES (:now, 'info', 'a', 'kept')"),
                {"now": now},
            )
    finally:
        engine.dispose()

    assert upgrade(url) == ("0001", head_revision())

    store = open_store(url, create=False)
    with store.session(readonly=True) as session:
        from mailconduit._store._repo_log import list_log
        from mailconduit._store._repo_messages import find_received, raw_bytes

        found = find_received(session, "a", folder="INBOX", uidvalidity=1, uid=1)
        assert found == message_id
        assert raw_bytes(session, found) == b"abc"
        assert [e.text for e in list_log(session, account="a")] == ["kept"]
    with store.engine.connect() as connection:
        indexes = {ix["name"] for ix in inspect(connection).get_indexes("email_log")}
    assert "ix_email_log_account_time" in indexes
    store.close()


def test_newer_revision_is_refused(url: str) -> None:
    upgrade(url)
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"revision '9999'.*does not know.*upgrade mailconduit"):
        open_store(url)
    with pytest.raises(StoreError, match="9999"):
        upgrade(url)


def test_empty_database_without_create_says_to_upgrade(url: str) -> None:
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).touch()
    with pytest.raises(StoreError, match=r"no mailconduit schema; run `mailconduit db upgrade`"):
        open_store(url, create=False)


def test_tables_without_revision_are_refused(url: str) -> None:
    upgrade(url)
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    engine.dispose()
    with pytest.raises(StoreError, match="no schema revision"):
        open_store(url)


def test_another_applications_tables_do_not_stop_creation(url: str) -> None:
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE their_table (id INTEGER PRIMARY KEY)"))
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('their-own-rev')"))
    engine.dispose()
    store = open_store(url)
    assert store.revision() == head_revision()
    store.close()
