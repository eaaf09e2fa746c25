"""Segment files: a SQLite store keeps the raw bytes of large replicated batches beside the database.

What a user relies on: every message reads back byte-exact whichever way it was stored, a crash
between writing a segment and committing loses and duplicates nothing, several writers never share
a file, a damaged or missing segment is a clear error naming the file, and a downgrade of the
schema puts the bytes back into the rows.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select

from mailconduit import Account, PasswordAuth, Secret, StoreError, load_plugins
from mailconduit._replicate import replicate
from mailconduit._store import Store, open_store
from mailconduit._store._engine import create_store_engine
from mailconduit._store._migrate import alembic_config
from mailconduit._store._models import MessageRaw, MessageRow
from mailconduit._store._repo_messages import raw_bytes, raw_bytes_of
from mailconduit._store._segments import SEGMENT_MIN_BATCH, Place, SegmentWriter, segment_dir, writer_for
from mailconduit.testing import MemoryReceiveSettings, MemoryServer

USER = "alice@example.test"
PLUGINS = load_plugins(autoload=False)


def mail(n: int, size: int) -> bytes:
    head = f"From: b@example.test\r\nSubject: m{n}\r\nMessage-ID: <m{n}@example.test>\r\n\r\n".encode()
    return head + (f"{n:06d} ".encode() * (size // 7 + 1))[:size] + b"\r\n"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "mail.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{db}")
    yield opened
    opened.close()


def account(server: MemoryServer, **receive: object) -> Account:
    return Account(
        name="alice",
        email=USER,
        auth=PasswordAuth(password=Secret("pw")),
        receive=MemoryReceiveSettings(
            protocol="memory", host=server.name, replicate_everything=True, **receive
        ),
    )


def run(store: Store, messages: list[bytes], name: str) -> None:
    with MemoryServer(name, users={USER: "pw"}) as server:
        for data in messages:
            server.deliver(USER, data)
        assert replicate(account(server), store=store, plugins=PLUGINS).failed == 0


def stored(store: Store) -> tuple[list[bytes], int]:
    """Every stored message's bytes in id order, and how many rows point into a segment."""
    with store.session(readonly=True) as session:
        ids = list(session.scalars(select(MessageRow.id).order_by(MessageRow.id)))
        found = raw_bytes_of(session, ids)
        segmented = session.scalar(select(func.count()).where(MessageRaw.segment.is_not(None))) or 0
    return [found[i] for i in ids], segmented


def test_a_large_batch_goes_to_a_segment_file_and_a_small_one_stays_in_rows(store: Store, db: Path) -> None:
    large = [mail(n, 40_000) for n in range(40)]  # ~1.6 MB in one batch
    small = [mail(100 + n, 300) for n in range(3)]
    assert sum(map(len, large)) >= SEGMENT_MIN_BATCH > sum(map(len, small))
    with MemoryServer("seg-sizes", users={USER: "pw"}) as server:
        for data in large:
            server.deliver(USER, data)
        replicate(account(server, messages_per_run=500), store=store, plugins=PLUGINS)
        for data in small:  # later mail, as IDLE or a poll brings it
            server.deliver(USER, data)
        replicate(account(server, messages_per_run=500), store=store, plugins=PLUGINS)
    assert stored(store) == (large + small, 40)
    files = list(segment_dir(db).iterdir())
    assert len(files) == 1, files
    assert oct(segment_dir(db).stat().st_mode & 0o777) == "0o700"
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"  # mail, like the database file
    assert files[0].stat().st_size == sum(map(len, large))


def test_a_segment_written_but_never_committed_is_harmless(
    store: Store, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the segment's fsync and before commit 1 leaves unreferenced bytes only."""
    messages = [mail(n, 60_000) for n in range(30)]
    real_append = SegmentWriter.append

    def append_then_fail(self: SegmentWriter, raws: list[bytes]) -> list[Place]:
        real_append(self, raws)  # durable on disk ...
        raise KeyboardInterrupt  # ... and the process is stopped before the commit

    with MemoryServer("seg-orphan", users={USER: "pw"}) as server:
        for data in messages:
            server.deliver(USER, data)
        monkeypatch.setattr(SegmentWriter, "append", append_then_fail)
        with pytest.raises(KeyboardInterrupt):
            replicate(account(server), store=store, plugins=PLUGINS)
        monkeypatch.undo()
        assert stored(store) == ([], 0)
        assert replicate(account(server), store=store, plugins=PLUGINS).stored == 30
    assert stored(store) == (messages, 30)
    with store.session(readonly=True) as session:
        offsets = list(session.scalars(select(MessageRaw.segment_offset).order_by(MessageRaw.message_id)))
    assert offsets[0] == sum(map(len, messages))  # the rows point past the orphaned copy


def test_a_database_reached_through_a_symbolic_link_keeps_one_segment_directory(tmp_path: Path) -> None:
    real = tmp_path / "disk" / "mail.db"
    real.parent.mkdir()
    link = tmp_path / "mail.db"
    link.symlink_to(real)
    messages = [mail(n, 60_000) for n in range(30)]
    linked = open_store(f"sqlite:///{link}")
    try:
        run(linked, messages, "seg-link")
        assert stored(linked) == (messages, 30)
    finally:
        linked.close()
    assert segment_dir(link) == segment_dir(real) == real.parent / "mail.db.segments"
    direct = open_store(f"sqlite:///{real}")
    try:
        assert stored(direct) == (messages, 30)
    finally:
        direct.close()


def test_writers_never_share_a_file_and_a_closed_one_is_reused(tmp_path: Path) -> None:
    directory = tmp_path / "x.db.segments"
    first, second = SegmentWriter(directory), SegmentWriter(directory)
    ((name1, _, _),) = first.append([b"a" * 10])
    ((name2, _, _),) = second.append([b"b" * 10])
    assert name1 != name2  # the first holds its file's lock
    first.close()
    third = SegmentWriter(directory)
    ((name3, offset3, _),) = third.append([b"c" * 10])
    assert name3 == name1 and offset3 == 10  # appended after what the first wrote
    second.close()
    third.close()


def test_two_processes_write_two_files(store: Store, db: Path) -> None:
    writer_for(db).append([b"parent"])
    pid = os.fork()
    if pid == 0:  # the child: a writer of its own, which must not append to the parent's file
        code = 0
        try:
            ((_name, offset, _),) = writer_for(db).append([b"child"])
            code = 0 if offset == 0 else 3
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(list(segment_dir(db).iterdir())) == 2


def test_a_missing_or_truncated_segment_is_a_clear_error_naming_the_file(store: Store, db: Path) -> None:
    messages = [mail(n, 60_000) for n in range(30)]
    run(store, messages, "seg-damaged")
    store.close()
    (segment,) = segment_dir(db).iterdir()
    with open(segment, "r+b") as file:
        file.truncate(segment.stat().st_size - 10)
    reopened = open_store(f"sqlite:///{db}")
    try:
        with reopened.session(readonly=True) as session:
            assert raw_bytes(session, 1) == messages[0]  # the start is intact
            with pytest.raises(StoreError, match=rf"message 30: segment file {segment}.*ends before"):
                raw_bytes(session, 30)
        segment.unlink()
        with (
            reopened.session(readonly=True) as session,
            pytest.raises(StoreError, match=r"restore the \.segments"),
        ):
            raw_bytes(session, 1)
    finally:
        reopened.close()


def test_a_downgrade_puts_the_bytes_back_into_the_rows(store: Store, db: Path) -> None:
    messages = [mail(n, 60_000) for n in range(30)]
    run(store, messages, "seg-downgrade")
    store.close()
    engine = create_store_engine(f"sqlite:///{db}")
    with engine.connect() as connection, connection.begin():
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    engine.dispose()
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT raw FROM message_raw ORDER BY message_id").fetchall()
        columns = [r[1] for r in connection.execute("PRAGMA table_info(message_raw)")]
    assert [bytes(r[0]) for r in rows] == messages
    assert "segment" not in columns


def test_a_segment_that_cannot_be_written_stops_the_batch_with_the_path_and_stores_nothing_of_it(
    store: Store, db: Path
) -> None:
    segment_dir(db).write_text("a file where the segment directory should be\n")
    messages = [mail(n, 60_000) for n in range(30)]
    with MemoryServer("seg-unwritable", users={USER: "pw"}) as server:
        for data in messages:
            server.deliver(USER, data)
        with pytest.raises(StoreError, match=rf"cannot write the segment file in {segment_dir(db)}"):
            replicate(account(server), store=store, plugins=PLUGINS)
        assert stored(store) == ([], 0)  # commit 1 rolled back: no row without its bytes
        segment_dir(db).unlink()
        result = replicate(account(server), store=store, plugins=PLUGINS)
    assert result.stored == 30
    assert stored(store) == (messages, 30)
