"""Commit 1 on SQLite: big messages are stored byte-exact through blob I/O or in a segment file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailconduit import Account, PasswordAuth, Secret, load_plugins
from mailconduit._replicate import _ingest, replicate
from mailconduit._store import Store, open_store
from mailconduit._store._models import MessageRaw
from mailconduit._store._repo_messages import raw_bytes_of
from mailconduit.testing import MemoryReceiveSettings, MemoryServer

USER = "alice@example.test"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    yield opened
    opened.close()


@pytest.mark.parametrize("layout", ["blob rows", "segment file"])
def test_big_and_small_messages_are_stored_byte_exact(
    store: Store, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    monkeypatch.setattr(_ingest, "STREAM_ABOVE", 5000)
    if layout == "blob rows":  # the batch stays in rows (as a small batch does), big ones by blob I/O
        monkeypatch.setattr(_ingest, "SEGMENT_MIN_BATCH", 1 << 40)
    big = b"Subject: big\r\n\r\n" + bytes(range(256)) * 10_000 + b"\r\n"  # over one 1 MiB piece
    small = b"Subject: small\r\n\r\nbody\r\n"
    edge = b"Subject: edge\r\n\r\n" + b"x" * (5000 - 17)
    with MemoryServer("ingest-blob", users={USER: "pw"}) as server:
        for data in (big, small, edge, big + b"again"):
            server.deliver(USER, data)
        account = Account(
            name="alice",
            email=USER,
            auth=PasswordAuth(password=Secret("pw")),
            receive=MemoryReceiveSettings(protocol="memory", host=server.name, replicate_everything=True),
        )
        result = replicate(account, store=store, plugins=load_plugins(autoload=False))
    assert result.stored == 4
    with store.session(readonly=True) as session:
        ids = list(session.scalars(select(MessageRaw.message_id).order_by(MessageRaw.message_id)))
        found = raw_bytes_of(session, ids)
        stored = [found[i] for i in ids]
        in_segments = session.scalar(select(func.count()).where(MessageRaw.segment.is_not(None)))
    assert stored == [big, small, edge, big + b"again"]
    assert in_segments == (4 if layout == "segment file" else 0)
