"""The outbox's rows in the store: enqueue, release unattempted claims, list, re-queue.

A queued message is a ``messages`` row (direction ``outgoing``) plus its bytes in ``message_raw``.
Its life: ``queued`` -> ``sending`` (claimed by a worker, with a lease) -> ``sent`` or ``failed``,
or back to ``queued`` with ``next_attempt_at`` after a temporary failure. Outcomes are written by
``_record`` (set-based, with the email-log line of each attempt in the same transaction);
per-recipient refusals go into the row's ``annotations`` under ``refused`` (address -> reply).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, union, update
from sqlalchemy.orm import Session

from mailconduit._message import MessageStatus
from mailconduit._outbox._compose_for_send import Prepared
from mailconduit._outbox._report import OutboxEntry
from mailconduit._store._models import Direction, LogLevel, MessageRaw, MessageRow
from mailconduit._store._repo_log import add_log

__all__ = [
    "OutboxEntry",
    "count_by_status",
    "due_accounts",
    "due_filter",
    "enqueue",
    "entry",
    "list_outbox",
    "release",
    "requeue_failed",
]


def _entry(row: MessageRow) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        account=row.account,
        status=row.status,
        message_id=row.header_message_id,
        subject=row.subject,
        recipients=tuple(row.recipients or ()),
        attempts=row.attempts,
        scheduled_at=row.scheduled_at,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
        refused=dict((row.annotations or {}).get("refused", {})),
        claimed_by=row.claimed_by,
    )


def enqueue(session: Session, account: str, prepared: Prepared, *, at: datetime | None, now: datetime) -> int:
    """Queue a prepared message for ``account``, due at ``at`` (or now); return its id."""
    row = MessageRow(
        direction=Direction.OUTGOING,
        account=account,
        status=MessageStatus.QUEUED,
        header_message_id=prepared.message_id,
        subject=prepared.subject,
        from_=prepared.from_header,
        date_header=prepared.date.isoformat(),
        sha256=prepared.sha256,
        size=len(prepared.raw),
        defects=[],
        annotations={},
        envelope_from=prepared.envelope_from,
        recipients=list(prepared.recipients),
        scheduled_at=at,
        attempts=0,
        next_attempt_at=at if at is not None and at > now else now,
    )
    session.add(row)
    session.flush()
    session.add(MessageRaw(message_id=row.id, raw=prepared.raw))
    when = f" for {at.isoformat()}" if at is not None else ""
    add_log(
        session,
        LogLevel.INFO,
        f"queued {prepared.message_id} to {len(prepared.recipients)} recipient(s){when}",
        account=account,
        message_id=row.id,
        time=now,
    )
    return row.id


def due_filter(now: datetime) -> Any:
    """The condition of a message a worker may claim: queued and due, or claimed with an expired lease."""
    return and_(
        MessageRow.direction == Direction.OUTGOING,
        or_(
            and_(MessageRow.status == MessageStatus.QUEUED, MessageRow.next_attempt_at <= now),
            and_(MessageRow.status == MessageStatus.SENDING, MessageRow.lease_until < now),
        ),
    )


def due_accounts(session: Session, now: datetime) -> list[str]:
    """The accounts that have messages a worker may claim now.

    Two index-friendly queries (queued and due; claims whose lease passed) rather than
    :func:`due_filter`'s ``OR``, which SQLite answers by reading every outgoing message, sent ones too.
    """
    return sorted(set(session.execute(_DUE_ACCOUNTS, {"now": now}).scalars()))


_T: Table = MessageRow.__table__  # type: ignore[assignment]
_DUE_ACCOUNTS = union(
    select(_T.c.account).where(
        _T.c.direction == Direction.OUTGOING,
        _T.c.status == MessageStatus.QUEUED,
        _T.c.next_attempt_at <= bindparam("now"),
    ),
    select(_T.c.account).where(
        _T.c.direction == Direction.OUTGOING,
        _T.c.status == MessageStatus.SENDING,
        _T.c.lease_until < bindparam("now"),
    ),
)


def release(session: Session, message_ids: Sequence[int], worker_id: str) -> int:
    """Return claimed, unattempted messages to the queue as they were (a stopping worker)."""
    if not message_ids:
        return 0
    result: Any = session.execute(
        update(MessageRow)
        .where(
            MessageRow.id.in_(list(message_ids)),
            MessageRow.status == MessageStatus.SENDING,
            MessageRow.claimed_by == worker_id,
        )
        .values(status=MessageStatus.QUEUED, claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


def entry(session: Session, message_id: int) -> OutboxEntry | None:
    """The outgoing message ``message_id``, or None."""
    row = session.get(MessageRow, message_id)
    if row is None or row.direction != Direction.OUTGOING:
        return None
    return _entry(row)


def list_outbox(
    session: Session,
    *,
    status: MessageStatus | str | None = None,
    account: str | None = None,
    limit: int = 100,
) -> list[OutboxEntry]:
    """Outgoing messages, newest first, filtered by status and account."""
    query = select(MessageRow).where(MessageRow.direction == Direction.OUTGOING)
    if status is not None:
        query = query.where(MessageRow.status == MessageStatus(status))
    if account is not None:
        query = query.where(MessageRow.account == account)
    query = query.order_by(MessageRow.id.desc()).limit(limit)
    return [_entry(row) for row in session.scalars(query)]


def count_by_status(session: Session) -> dict[str, int]:
    """How many outgoing messages are in each status."""
    rows = session.execute(
        select(MessageRow.status, func.count())
        .where(MessageRow.direction == Direction.OUTGOING)
        .group_by(MessageRow.status)
    )
    return {MessageStatus(status).value: int(count) for status, count in rows}


def requeue_failed(session: Session, message_id: int, *, now: datetime) -> OutboxEntry:
    """Put a failed message back in the queue, due now, with a fresh count of attempts.

    Raises:
        LookupError: there is no outgoing message ``message_id``.
        ValueError: the message is not failed (only failed messages are re-queued).
    """
    row = session.get(MessageRow, message_id, with_for_update=True)
    if row is None or row.direction != Direction.OUTGOING:
        raise LookupError(f"outbox: no outgoing message with id {message_id}; see `mailconduit outbox list`")
    if row.status != MessageStatus.FAILED:
        raise ValueError(
            f"outbox: message {message_id} is {row.status.value}, not failed; "
            "only failed messages are re-queued"
        )
    row.status = MessageStatus.QUEUED
    row.attempts = 0
    row.next_attempt_at = now
    row.updated_at = now
    add_log(
        session,
        LogLevel.INFO,
        f"re-queued {row.header_message_id} (was failed: {row.last_error})",
        account=row.account,
        message_id=row.id,
        time=now,
    )
    session.flush()
    return _entry(row)
