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

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from attrs import field, frozen
from sqlalchemy import Connection, Select, Table, and_, bindparam, insert, select, update

from mailconduit._message import MessageStatus
from mailconduit._store._models import Direction, EmailLog, LogLevel, MessageRaw, MessageRow
from mailconduit._store._store import Store

__all__ = ["Claimed", "Picked", "claim", "pick", "read_claimed", "renew"]


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
    with store.session() as session:
        picked = pick(
            session.connection(),
            worker_id=worker_id,
            now=now,
            lease=lease,
            limit=limit,
            account=account,
            ids=ids,
        )
    return read_claimed(store, picked)


@frozen
class Picked:
    """Messages a committed claim marked ``sending`` for this worker, before their bytes are read.

    Attributes:
        ids: the messages, oldest due first.
        previous: the worker whose expired claim this one took over, by message.
    """

    ids: tuple[int, ...]
    previous: Mapping[int, str]


def pick(
    connection: Connection,
    *,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    account: str | None = None,
    ids: Sequence[int] | None = None,
) -> Picked:
    """In ``connection``'s write transaction, choose up to ``limit`` due messages and mark them claimed.

    The arguments are :func:`claim`'s. A message taken over from a worker whose claim expired gets a
    warning in the email log (same transaction). The claim holds once the transaction commits.
    """
    filters: dict[str, Any] = {"now": now}
    if account is not None:
        filters["account"] = account
    if ids is not None:
        filters["ids"] = list(ids)
    rows: list[Any] = []
    for which in ("expired", "due"):
        if len(rows) < limit:
            query = _candidates(which, account is not None, ids is not None)
            rows += connection.execute(query, {**filters, "limit": limit - len(rows)}).all()
    if not rows:
        return Picked((), {})
    rows.sort(key=lambda row: (row.next_attempt_at, row.id))
    chosen = tuple(row.id for row in rows)
    connection.execute(_TAKE, {"ids": list(chosen), "worker": worker_id, "until": now + lease})
    previous = {row.id: row.claimed_by for row in rows if row.claimed_by is not None}
    if previous:
        connection.execute(
            insert(EmailLog),
            [
                {
                    "level": LogLevel.WARNING,
                    "text": f"claim of worker {row.claimed_by} on {row.header_message_id} expired; "
                    "sending it again (if that worker was stopped after the server accepted it, it "
                    "arrives twice)",
                    "account": row.account,
                    "message_id": row.id,
                    "time": now,
                }
                for row in rows
                if row.claimed_by is not None
            ],
        )
    return Picked(chosen, previous)


def read_claimed(store: Store, picked: Picked) -> list[Claimed]:
    """What to send for ``picked`` (whose claim is committed), in its order.

    What is sent never changes after enqueue and the rows are this worker's, so the bytes are read
    outside the write transaction (SQLite's write lock is held for the claim only, not for reading
    a group's bytes).
    """
    if not picked.ids:
        return []
    with store.session(readonly=True) as session:
        found = {row.id: row for row in session.execute(_READ, {"ids": list(picked.ids)})}
    rows = [found[row_id] for row_id in picked.ids if row_id in found]
    return [
        Claimed(
            id=row_id,
            account=acct,
            envelope_from=envelope_from or "",
            recipients=tuple(recipients or ()),
            raw=bytes(raw),
            attempts=attempts,
            message_id=header_id,
            reclaimed_from=picked.previous.get(row_id),
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
