"""One replicator per (account, folder) at a time on PostgreSQL: a session-level advisory lock.

``pg_try_advisory_lock`` on a connection held for the run: a second replicator does not wait, it is
told the folder is already being replicated. The lock goes with the connection, so a replicator
that dies releases it. SQLite serves one machine; its writers are serialised by the store itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from mailconduit._store import Store

__all__ = ["folder_lock", "lock_key"]


def lock_key(account: str, folder: str) -> int:
    """The signed 64-bit advisory-lock key of ``account``/``folder`` (stable across processes)."""
    digest = hashlib.sha256(f"mailconduit.replicate\0{account}\0{folder}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def folder_lock(store: Store, account: str, folder: str) -> Iterator[bool]:
    """Hold the replication lock of ``account``/``folder`` for the block; False when another holds it."""
    if store.engine.dialect.name != "postgresql":
        yield True
        return
    from sqlalchemy import text

    key = lock_key(account, folder)
    with store.engine.connect() as connection:
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        connection.commit()
        try:
            yield got
        finally:
            if got:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
