"""The later, budgeted step of ingest: the full MIME parse of stored messages, and its defects recorded.

Replication stores raw bytes with a cheap header scan and a linear structure survey (fast, near the
wire's speed); the stdlib's full parse costs more than the wire (PERFORMANCE.md), so it runs here,
afterwards or on demand, each message inside the parse worker's CPU and memory budget. Its defects
are merged into the message's row and the row is marked ``parsed: full`` so no message is parsed
twice. A message over budget keeps its raw bytes and gets the ``limit_exceeded`` defect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from attrs import frozen
from sqlalchemy import select

from mailconduit._store import Store
from mailconduit._store._models import MessageRow
from mailconduit._store._repo_messages import raw_bytes_of
from mailconduit._types import Direction

__all__ = ["PARSED_KEY", "AnalyseResult", "analyse"]

PARSED_KEY = "parsed"
"""Annotation set to ``full`` once the full parse has run and its defects are recorded."""

_BATCH = 100


@frozen(kw_only=True)
class AnalyseResult:
    """What an analyse pass did: messages parsed, of them with defects, and over their budget."""

    parsed: int = 0
    with_defects: int = 0
    limit_exceeded: int = 0


def _pending(store: Store, account: str | None, ids: Sequence[int] | None) -> list[int]:
    with store.session(readonly=True) as session:
        query = select(MessageRow.id, MessageRow.annotations).where(
            MessageRow.direction == Direction.INCOMING
        )
        if account is not None:
            query = query.where(MessageRow.account == account)
        if ids is not None:
            query = query.where(MessageRow.id.in_(list(ids)))
        rows = session.execute(query.order_by(MessageRow.id)).all()
    return [row.id for row in rows if (row.annotations or {}).get(PARSED_KEY) != "full"]


def analyse(
    store: Store,
    *,
    account: str | None = None,
    ids: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AnalyseResult:
    """Run the budgeted full parse on received messages not parsed yet and record their defects.

    Args:
        store: the open store.
        account: only this account's messages.
        ids: only these message ids.
        progress: called with (done, total) after each batch.
    """
    from mailconduit._mime import parse_message

    todo = _pending(store, account, ids)
    parsed = with_defects = over = 0
    for start in range(0, len(todo), _BATCH):
        batch = todo[start : start + _BATCH]
        with store.session() as session:
            raws = raw_bytes_of(session, batch)
            for row in session.scalars(select(MessageRow).where(MessageRow.id.in_(batch))):
                raw = raws.get(row.id)
                if raw is None:
                    continue
                result = parse_message(raw)
                merged = list(dict.fromkeys([*(row.defects or []), *result.defects]))
                row.defects = merged
                row.annotations = {**(row.annotations or {}), PARSED_KEY: "full"}
                parsed += 1
                with_defects += bool(merged)
                over += result.limit_exceeded
        if progress is not None:
            progress(min(start + _BATCH, len(todo)), len(todo))
    return AnalyseResult(parsed=parsed, with_defects=with_defects, limit_exceeded=over)
