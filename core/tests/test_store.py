"""The store: durable settings on every connection (A11), opening rules, and the repositories."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from mailconduit._errors import StoreError
from mailconduit._store import open_store
from mailconduit._store._models import Attachment, LogLevel, MessageRaw, MessageRow
from mailconduit._store._repo_log import add_log, list_log
from mailconduit._store._repo_messages import HeaderScan, raw_bytes, store_received


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mail.db'}"


def test_sqlite_every_connection_is_wal_and_full(store_url: str) -> None:
    store = open_store(store_url)
    connections = [store.engine.connect() for _ in range(4)]  # four distinct pooled connections
    try:
        for connection in connections:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        for connection in connections:
            connection.close()
    store.check_durability()
    store.close()


def test_store_file_is_private_and_uses_large_pages(tmp_path: Path, store_url: str) -> None:
    store = open_store(store_url)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA page_size").scalar() == 65536
    store.close()
    assert (tmp_path / "mail.db").stat().st_mode & 0o777 == 0o600


def test_check_durability_refuses_synchronous_normal(store_url: str) -> None:
    store = open_store(store_url)
    # a pooled connection someone reconfigured behind the store's back
    raw = store.engine.raw_connection()
    raw.driver_connection.execute("PRAGMA synchronous = NORMAL")  # type: ignore[union-attr]
    raw.close()  # back to the pool, still NORMAL
    with pytest.raises(StoreError, match=r"synchronous is 1, not 2 \(FULL\)"):
        store.check_durability()
    store.close()


def test_open_without_create_names_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing.db'}"
    with pytest.raises(StoreError, match="mailconduit db upgrade"):
        open_store(url, create=False)
    assert not (tmp_path / "missing.db").exists()


def test_a_link_to_a_store_not_made_yet_creates_it_where_the_link_points(tmp_path: Path) -> None:
    real = tmp_path / "disk" / "mail.db"
    real.parent.mkdir()
    link = tmp_path / "mail.db"
    link.symlink_to(real)
    open_store(f"sqlite:///{link}").close()
    assert real.is_file() and oct(real.stat().st_mode & 0o777) == "0o600"


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'nope' / 'mail.db'}")


def test_bad_urls_are_store_errors() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("not a url at all")
    with pytest.raises(StoreError, match="not supported"):
        open_store("mysql://u:pw@localhost/x")


def test_session_rolls_back_on_error(store_url: str) -> None:
    store = open_store(store_url)
    with pytest.raises(RuntimeError), store.session() as session:
        add_log(session, "info", "never committed")
        raise RuntimeError("boom")
    with store.session() as session:
        assert list_log(session) == []
    store.close()


def test_log_add_and_filter(store_url: str) -> None:
    store = open_store(store_url)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with store.session() as session:
        for i, (level, account) in enumerate(
            [("debug", "a"), ("info", "a"), ("warning", "b"), ("error", "a"), ("info", None)]
        ):
            add_log(session, level, f"entry {i}", account=account, time=start + timedelta(minutes=i))
    with store.session() as session:
        everything = list_log(session)
        assert [e.text for e in everything] == ["entry 4", "entry 3", "entry 2", "entry 1", "entry 0"]
        assert everything[0].time == start + timedelta(minutes=4)
        assert everything[0].time.tzinfo is not None
        assert [e.text for e in list_log(session, account="a")] == ["entry 3", "entry 1", "entry 0"]
        assert [e.level for e in list_log(session, level="warning")] == [LogLevel.ERROR, LogLevel.WARNING]
        assert [e.text for e in list_log(session, account="a", level="info")] == ["entry 3", "entry 1"]
        assert len(list_log(session, limit=2)) == 2
        assert [e.text for e in list_log(session, since=start + timedelta(minutes=3))] == [
            "entry 4",
            "entry 3",
        ]
    store.close()


def test_naive_datetimes_are_refused(store_url: str) -> None:
    store = open_store(store_url)
    with pytest.raises(Exception, match="naive datetime"), store.session() as session:
        add_log(session, "info", "x", time=datetime(2025, 1, 1))
    store.close()


def test_store_received_is_idempotent_per_imap_key(store_url: str) -> None:
    store = open_store(store_url)
    raw = b"Subject: hi\r\nMessage-ID: <1@x>\r\n\r\nbody \x00\xff bytes\r\n"
    with store.session() as session:
        first = store_received(
            session, "acct", raw, folder="INBOX", uidvalidity=7, uid=1, headers=HeaderScan(subject="hi")
        )
        again = store_received(session, "acct", b"different bytes", folder="INBOX", uidvalidity=7, uid=1)
        other_uid = store_received(session, "acct", raw, folder="INBOX", uidvalidity=7, uid=2)
        new_validity = store_received(session, "acct", raw, folder="INBOX", uidvalidity=8, uid=1)
        other_account = store_received(session, "other", raw, folder="INBOX", uidvalidity=7, uid=1)
    assert first.created and not again.created and again.id == first.id
    assert len({first.id, other_uid.id, new_validity.id, other_account.id}) == 4
    with store.session() as session:
        assert raw_bytes(session, first.id) == raw
        row = session.get(MessageRow, first.id)
        assert row is not None
        assert row.subject == "hi" and row.size == len(raw) and row.status == "received"
        assert row.direction == "incoming"
        assert session.scalar(select(text("count(*)")).select_from(MessageRow)) == 4
    store.close()


def test_store_received_is_idempotent_per_pop3_uidl(store_url: str) -> None:
    store = open_store(store_url)
    with store.session() as session:
        first = store_received(session, "pop", b"a", uidl="UID-1", folder="INBOX")
    with store.session() as session:
        assert store_received(session, "pop", b"a", uidl="UID-1", folder="INBOX") == first.__class__(
            first.id, created=False
        )
        assert store_received(session, "pop", b"b", uidl="UID-2").created
    store.close()


def test_store_received_refuses_incomplete_keys(store_url: str) -> None:
    store = open_store(store_url)
    with store.session() as session:
        with pytest.raises(ValueError, match="together"):
            store_received(session, "a", b"x", folder="INBOX", uid=1)
        with pytest.raises(ValueError, match="not both"):
            store_received(session, "a", b"x", folder="INBOX", uidvalidity=1, uid=1, uidl="u")
        with pytest.raises(ValueError, match="either"):
            store_received(session, "a", b"x")
    store.close()


def test_concurrent_writers_store_a_key_once(store_url: str) -> None:
    """Two writers racing on the same key: one row, both told the same id (the loser's insert fails)."""
    store = open_store(store_url)
    barrier = threading.Barrier(4)
    results: list[int] = []

    def writer() -> None:
        barrier.wait()
        with store.session() as session:
            results.append(store_received(session, "a", b"raw", folder="INBOX", uidvalidity=1, uid=9).id)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len(set(results)) == 1
    with store.session() as session:
        assert len(session.scalars(select(MessageRow.id)).all()) == 1
    store.close()


def test_deleting_a_message_removes_its_raw_bytes_and_attachments(store_url: str) -> None:
    store = open_store(store_url)
    with store.session() as session:
        stored = store_received(session, "a", b"raw", uidl="u1")
        session.add(
            Attachment(
                message_id=stored.id,
                position=0,
                content_type="text/plain",
                size=1,
                sha256="0" * 64,
                content=b"x",
            )
        )
    with store.session() as session:
        session.execute(MessageRow.__table__.delete().where(MessageRow.id == stored.id))
    with store.session() as session:
        assert session.get(MessageRaw, stored.id) is None
        assert session.scalars(select(Attachment)).all() == []
    store.close()


def test_sqlite_sidecar_files_stay_private(tmp_path: Path, store_url: str) -> None:
    store = open_store(store_url)
    with store.session() as session:
        add_log(session, "info", "x")
    for name in os.listdir(tmp_path):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name
    store.close()


@pytest.mark.servers
def test_postgresql_synchronous_commit_is_not_off(postgres_url: str) -> None:
    store = open_store(postgres_url)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() != "off"
    store.check_durability()
    store.close()


@pytest.mark.servers
def test_postgresql_synchronous_commit_off_is_turned_on(postgres_url: str) -> None:
    store = open_store(postgres_url)
    database = store.engine.url.database
    with store.engine.connect() as connection:
        connection.exec_driver_sql(f'ALTER DATABASE "{database}" SET synchronous_commit = off')
        connection.commit()
    store.close()
    store = open_store(postgres_url)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    store.check_durability()
    store.close()


@pytest.mark.servers
def test_postgresql_repositories(postgres_url: str) -> None:
    store = open_store(postgres_url)
    with store.session() as session:
        first = store_received(session, "a", b"\x00raw\xff", folder="INBOX", uidvalidity=1, uid=1)
        add_log(session, "error", "failed", account="a", message_id=first.id)
    with store.session() as session:
        assert not store_received(session, "a", b"x", folder="INBOX", uidvalidity=1, uid=1).created
        assert raw_bytes(session, first.id) == b"\x00raw\xff"
        (entry,) = list_log(session, account="a", level="warning")
        assert entry.message_id == first.id and entry.time.tzinfo is not None
    store.close()
