"""On PostgreSQL one replicator per (account, folder) at a time: a second one is told so at once."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from mailconduit import Account, PasswordAuth, Secret, load_plugins
from mailconduit._replicate import AlreadyRunning, adopt, replicate
from mailconduit._replicate._lock import folder_lock, lock_key
from mailconduit._store import Store, open_store
from mailconduit.testing import MemoryReceiveSettings, MemoryServer

USER = "alice@example.test"
PLUGINS = load_plugins(autoload=False)
_names = itertools.count()


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    store = open_store(postgres_url)
    yield store
    store.close()


def test_lock_keys_differ_per_account_and_folder() -> None:
    keys = {lock_key(a, f) for a in ("a", "b") for f in ("INBOX", "Archive")}
    assert len(keys) == 4 and lock_key("a", "INBOX") == lock_key("a", "INBOX")
    assert all(-(2**63) <= k < 2**63 for k in keys)


@pytest.mark.servers
def test_a_second_replicator_gets_already_running(pg_store: Store) -> None:
    with MemoryServer(f"lock-{next(_names)}", users={USER: "pw"}) as server:
        server.deliver(USER, b"Subject: one\r\n\r\nbody\r\n")
        server.folder(USER, "Other")
        account = Account(
            name="alice",
            email=USER,
            auth=PasswordAuth(password=Secret("pw")),
            receive=MemoryReceiveSettings(protocol="memory", host=server.name),
        )
        with folder_lock(pg_store, "alice", "INBOX") as held:
            assert held
            busy = replicate(account, store=pg_store, plugins=PLUGINS)
            assert isinstance(busy, AlreadyRunning) and busy.stored == 0
            assert "already being replicated" in busy.reason
            assert adopt(account, store=pg_store, plugins=PLUGINS).already_running
            other = replicate(account, store=pg_store, plugins=PLUGINS, folder="Other")
            assert not isinstance(other, AlreadyRunning)
        done = replicate(account, store=pg_store, plugins=PLUGINS)
        assert not isinstance(done, AlreadyRunning) and done.stored == 1
