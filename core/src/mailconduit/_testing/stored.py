"""What a store holds, for tests that check replication stored every message exactly once."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailconduit._store import Store

__all__ = ["stored_digests"]


def stored_digests(store: Store, account: str) -> Counter[str]:
    """Hex sha256 of each message stored for ``account``, recomputed from its stored bytes, with multiplicity.

    Compare it with ``Counter(hashlib.sha256(m).hexdigest() for m in seeded)``: equal means every
    message was stored, byte-exact and exactly once.
    """
    from sqlalchemy import select

    from mailconduit._store._models import MessageRow
    from mailconduit._store._repo_messages import raw_bytes

    with store.session(readonly=True) as session:
        ids = session.scalars(select(MessageRow.id).where(MessageRow.account == account)).all()
        return Counter(hashlib.sha256(raw_bytes(session, i) or b"").hexdigest() for i in ids)
