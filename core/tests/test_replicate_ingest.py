"""Commit 1 on SQLite: messages above the streaming threshold are stored byte-exact through blob I/O."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailconduit import Account, PasswordAuth, Secret, load_plugins
from mailconduit._replicate import _ingest, replicate
from mailconduit._store import Store, open_store
from mailconduit._store._models import MessageRaw
from mailconduit.testing import MemoryReceiveSettings, MemoryServer

USER = "alice@example.test"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    yield opened
    opened.close()


def test_big_and_small_messages_are_stored_byte_exact(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ingest, "STREAM_ABOVE", 5000)
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
        stored = [r.raw for r in session.scalars(select(MessageRaw).order_by(MessageRaw.message_id))]
    assert stored == [big, small, edge, big + b"again"]
