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

from attrs import field, frozen
from sqlalchemy import select, update

from mailconduit._message import MessageStatus
from mailconduit._outbox._repo import due_filter
from mailconduit._store._models import LogLevel, MessageRaw, MessageRow
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
        query = select(
            MessageRow.id, MessageRow.claimed_by, MessageRow.account, MessageRow.header_message_id
        ).where(due_filter(now))
        if account is not None:
            query = query.where(MessageRow.account == account)
        if ids is not None:
            query = query.where(MessageRow.id.in_(list(ids)))
        query = query.order_by(MessageRow.next_attempt_at, MessageRow.id).limit(limit)
        picked = session.execute(query.with_for_update(skip_locked=True)).all()
        if not picked:
            return []
        chosen = [row_id for row_id, *_ in picked]
        session.execute(
            update(MessageRow)
            .where(MessageRow.id.in_(chosen))
            .values(status=MessageStatus.SENDING, claimed_by=worker_id, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        previous = {}
        for row_id, holder, acct, header_id in picked:
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
        rows = session.execute(
            select(
                MessageRow.id,
                MessageRow.account,
                MessageRow.envelope_from,
                MessageRow.recipients,
                MessageRow.attempts,
                MessageRow.header_message_id,
                MessageRaw.raw,
            )
            .join(MessageRaw, MessageRaw.message_id == MessageRow.id)
            .where(MessageRow.id.in_(chosen))
            .order_by(MessageRow.next_attempt_at, MessageRow.id)
        ).all()
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
