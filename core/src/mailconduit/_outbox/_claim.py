"""Claiming queued messages for one worker, with a lease, so no two workers send the same message.

PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks due rows no other transaction holds, and the
same transaction marks them ``sending`` with ``claimed_by`` and ``lease_until``; several workers on
several machines share one queue. SQLite: the writing session begins ``IMMEDIATE``, so claims are
serialised by the database's write lock (in effect one worker claims at a time) and the same update
applies. On both, a claim whose lease has passed is due again: a crashed worker's messages return to
the queue by themselves. Leases are compared with the workers' clocks, so machines sharing a
PostgreSQL queue need synchronised clocks (within a small fraction of the lease).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from attrs import field, frozen
from sqlalchemy import Select, Table, and_, bindparam, select, update

from mailconduit._message import MessageStatus
from mailconduit._store._models import Direction, LogLevel, MessageRaw, MessageRow
from mailconduit._store._repo_log import add_log
from mailconduit._store._store import Store

__all__ = ["Claimed", "claim", "renew"]


@frozen(kw_only=True)
class Claimed:
    """A message this worker holds: what to send and how many attempts it had."""

    id: int
    account: str
    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes = field(repr=lambda b: f"<{len(b)} bytes>")
    attempts: int
    message_id: str | None
    reclaimed_from: str | None = None


_T: Table = MessageRow.__table__  # type: ignore[assignment]
_RAW: Table = MessageRaw.__table__  # type: ignore[assignment]
_OUTGOING = _T.c.direction == Direction.OUTGOING
# Two candidate queries rather than one with OR: each walks the (direction, status,
# next_attempt_at) index from its start (queued messages in due order; the few in-flight claims),
# so a claim reads about ``limit`` index entries however many sent messages the table holds. One
# query with ``OR`` made SQLite scan every outgoing message and sort the due ones, per claim.
_EXPIRED = and_(_OUTGOING, _T.c.status == MessageStatus.SENDING, _T.c.lease_until < bindparam("now"))
_DUE = and_(_OUTGOING, _T.c.status == MessageStatus.QUEUED, _T.c.next_attempt_at <= bindparam("now"))


@lru_cache(maxsize=16)
def _candidates(which: str, by_account: bool, by_ids: bool) -> Select[Any]:
    """Due rows of one kind (``expired`` claims or ``due`` queued messages), oldest due first, locked."""
    query = select(_T.c.id, _T.c.claimed_by, _T.c.account, _T.c.header_message_id, _T.c.next_attempt_at)
    query = query.where(_EXPIRED if which == "expired" else _DUE)
    if by_account:
        query = query.where(_T.c.account == bindparam("account"))
    if by_ids:
        query = query.where(_T.c.id.in_(bindparam("ids", expanding=True)))
    query = query.order_by(_T.c.next_attempt_at, _T.c.id).limit(bindparam("limit"))
    return query.with_for_update(skip_locked=True)


_TAKE = (
    update(_T)
    .where(_T.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=MessageStatus.SENDING, claimed_by=bindparam("worker"), lease_until=bindparam("until"))
)
_READ = (
    select(
        _T.c.id,
        _T.c.account,
        _T.c.envelope_from,
        _T.c.recipients,
        _T.c.attempts,
        _T.c.header_message_id,
        _RAW.c.raw,
    )
    .join(_RAW, _RAW.c.message_id == _T.c.id)
    .where(_T.c.id.in_(bindparam("ids", expanding=True)))
)


def claim(
    store: Store,
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    account: str | None = None,
    ids: Sequence[int] | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due messages (oldest due first) for ``worker_id`` until ``now + lease``.

    Args:
        store: the store.
        worker_id: who claims; written to ``claimed_by``.
        now: the current time (the worker's clock).
        lease: how long the claim holds without renewal.
        limit: at most this many messages.
        account: only this account's messages.
        ids: only these messages (``send_now``).
    """
    filters: dict[str, Any] = {"now": now}
    if account is not None:
        filters["account"] = account
    if ids is not None:
        filters["ids"] = list(ids)
    with store.session() as session:
        picked: list[Any] = []
        for which in ("expired", "due"):
            if len(picked) < limit:
                query = _candidates(which, account is not None, ids is not None)
                picked += session.execute(query, {**filters, "limit": limit - len(picked)}).all()
        if not picked:
            return []
        picked.sort(key=lambda row: (row.next_attempt_at, row.id))
        chosen = [row.id for row in picked]
        session.execute(_TAKE, {"ids": chosen, "worker": worker_id, "until": now + lease})
        previous = {}
        for row_id, holder, acct, header_id, _due in picked:
            if holder is not None:
                previous[row_id] = holder
                add_log(
                    session,
                    LogLevel.WARNING,
                    f"claim of worker {holder} on {header_id} expired; sending it again (if that worker "
                    "was stopped after the server accepted it, it arrives twice)",
                    account=acct,
                    message_id=row_id,
                    time=now,
                )
    # The claim is committed: these rows are this worker's, and what is sent never changes after
    # enqueue, so the bytes are read outside the write transaction (SQLite's write lock is held
    # for the claim only, not for reading a group's bytes).
    with store.session(readonly=True) as session:
        found = {row.id: row for row in session.execute(_READ, {"ids": chosen})}
    rows = [found[row_id] for row_id in chosen if row_id in found]
    return [
        Claimed(
            id=row_id,
            account=acct,
            envelope_from=envelope_from or "",
            recipients=tuple(recipients or ()),
            raw=bytes(raw),
            attempts=attempts,
            message_id=header_id,
            reclaimed_from=previous.get(row_id),
        )
        for row_id, acct, envelope_from, recipients, attempts, header_id, raw in rows
    ]


def renew(store: Store, message_ids: Sequence[int], *, worker_id: str, until: datetime) -> int:
    """Extend this worker's claims on ``message_ids`` to ``until``; return how many it still held."""
    if not message_ids:
        return 0
    with store.session() as session:
        result = session.execute(
            update(MessageRow)
            .where(
                MessageRow.id.in_(list(message_ids)),
                MessageRow.status == MessageStatus.SENDING,
                MessageRow.claimed_by == worker_id,
            )
            .values(lease_until=until)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))
