"""Write a batch of attempt outcomes, with one email-log line per attempt, in one transaction.

The statements are set-based, so a batch costs the same few round trips however many outcomes it
holds: one ``SELECT ... FOR UPDATE`` of the rows this worker still holds (``sending`` and
``claimed_by`` it), with their annotations; one ``UPDATE ... WHERE id IN (...)`` for every message
the server accepted without refusing a recipient (the usual case); one ``UPDATE`` per message for
the rest (refusals to record, retries with their own next attempt time, failures); one bulk
``INSERT`` of the log lines. Every update names this worker (``claimed_by``) and its row count is
checked. A message this worker no longer holds (its claim expired and another worker took it over)
is left as it is; its attempt is still logged, as a possible duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from attrs import frozen
from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.orm import Session

from mailconduit._errors import StoreError
from mailconduit._message import MessageStatus
from mailconduit._outbox._claim import Claimed
from mailconduit._outbox._report import Outcome
from mailconduit._store._models import EmailLog, LogLevel, MessageRow

__all__ = ["Done", "write_outcomes"]


@frozen(kw_only=True)
class Done:
    """An attempt's outcome waiting to be written.

    Attributes:
        account: the sending account's name.
        max_attempts: the account's ``max_attempts`` (for the log line).
        item: the claimed message.
        outcome: what became of the attempt.
        at: when the attempt ended (the time of its log line, and ``sent_at``).
    """

    account: str
    max_attempts: int
    item: Claimed
    outcome: Outcome
    at: datetime


_SENT = {"status": MessageStatus.SENT, "next_attempt_at": None, "last_error": None}


def _values(outcome: Outcome, annotations: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The row's new values for ``outcome`` (the claim is cleared and the attempt counted by the caller)."""
    if outcome.kind == "sent":
        values: dict[str, Any] = {**_SENT, "sent_at": at}
        if outcome.refused:
            values["annotations"] = {**annotations, "refused": dict(outcome.refused)}
        return values
    if outcome.kind == "retry":
        return {
            "status": MessageStatus.QUEUED,
            "next_attempt_at": outcome.next_attempt_at,
            "last_error": outcome.reply,
        }
    values = {"status": MessageStatus.FAILED, "next_attempt_at": None, "last_error": outcome.reply}
    if outcome.ambiguous:
        values["annotations"] = {**annotations, "ambiguous": True}
    return values


def _line(done: Done, held: bool) -> tuple[LogLevel, str]:
    item, outcome = done.item, done.outcome
    number = f"attempt {item.attempts + 1} of {done.max_attempts}"
    who = item.message_id or f"message {item.id}"
    uncertain = " (connection lost after the data was sent: it may have arrived)" if outcome.ambiguous else ""
    if outcome.kind == "sent":
        text = f"{who}: {number}: sent: {outcome.reply}"
        if outcome.refused:
            text += "; refused: " + "; ".join(f"{a}: {r}" for a, r in outcome.refused.items())
        level = LogLevel.WARNING if outcome.refused else LogLevel.INFO
    elif outcome.kind == "retry":
        assert outcome.next_attempt_at is not None
        text = (
            f"{who}: {number}: temporary failure: {outcome.reply}{uncertain}; "
            f"next attempt at {outcome.next_attempt_at.isoformat()}"
        )
        level = LogLevel.WARNING
    else:
        text = f"{who}: {number}: failed ({outcome.note}): {outcome.reply}{uncertain}"
        level = LogLevel.ERROR
    if not held:
        text += " (not recorded: another worker took the message over after this worker's claim expired)"
        level = LogLevel.WARNING if level == LogLevel.INFO else level
    return level, text


def write_outcomes(session: Session, batch: Sequence[Done], *, worker_id: str, now: datetime) -> list[bool]:
    """Record ``batch`` (this worker's outcomes) and their log lines in ``session``'s transaction.

    Returns, per outcome, whether it was recorded (False: this worker no longer held the message).

    Raises:
        StoreError: an update changed another number of rows than this worker holds (the store
            changed under a row lock; the transaction is rolled back and the claims expire).
    """
    ids = [done.item.id for done in batch]
    held: dict[int, dict[str, Any]] = {
        row_id: dict(annotations or {})
        for row_id, annotations in session.execute(
            select(MessageRow.id, MessageRow.annotations)
            .where(
                MessageRow.id.in_(ids),
                MessageRow.status == MessageStatus.SENDING,
                MessageRow.claimed_by == worker_id,
            )
            .order_by(MessageRow.id)
            .with_for_update()
        )
    }
    plain: dict[int, datetime] = {}
    single: list[tuple[int, dict[str, Any]]] = []
    for done in batch:
        if done.item.id not in held:
            continue
        values = _values(done.outcome, held.pop(done.item.id), done.at)
        if values.keys() == {*_SENT, "sent_at"}:
            plain[done.item.id] = done.at
        else:
            single.append((done.item.id, values))
    recorded = set(plain) | {row_id for row_id, _ in single}
    changed = 0
    if plain:
        changed += _update(session, list(plain), {**_SENT, "sent_at": _per_row(plain)}, worker_id, now)
    for row_id, values in single:
        changed += _update(session, [row_id], values, worker_id, now)
    if changed != len(recorded):
        raise StoreError(
            f"outbox: recording {len(recorded)} outcomes of worker {worker_id} changed {changed} rows; "
            "the store changed under its row locks. Nothing was recorded; the claims expire and the "
            "messages are sent again. Check that no other program edits the messages table"
        )
    lines = []
    for done in batch:
        level, text = _line(done, done.item.id in recorded)
        lines.append(
            {
                "level": level,
                "text": text,
                "account": done.account,
                "message_id": done.item.id,
                "time": done.at,
            }
        )
    session.execute(insert(EmailLog), lines)
    return [done.item.id in recorded for done in batch]


def _per_row(times: dict[int, datetime]) -> Any:
    """``sent_at`` for rows sent at different times: one value, or ``CASE id WHEN ... END``."""
    distinct = set(times.values())
    if len(distinct) == 1:
        return distinct.pop()
    kind = MessageRow.__table__.c.sent_at.type
    return case(
        {row_id: bindparam(None, at, type_=kind) for row_id, at in times.items()}, value=MessageRow.id
    )


def _update(session: Session, ids: list[int], values: dict[str, Any], worker_id: str, now: datetime) -> int:
    result: Any = session.execute(
        update(MessageRow)
        .where(
            MessageRow.id.in_(ids),
            MessageRow.status == MessageStatus.SENDING,
            MessageRow.claimed_by == worker_id,
        )
        .values(**values, attempts=MessageRow.attempts + 1, claimed_by=None, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)
