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
from functools import lru_cache
from typing import Any

from attrs import frozen
from sqlalchemy import Connection, Table, Update, and_, bindparam, case, insert, select, update

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


_T: Table = MessageRow.__table__  # type: ignore[assignment]
_LOG: Table = EmailLog.__table__  # type: ignore[assignment]
_MINE = and_(
    _T.c.id.in_(bindparam("ids", expanding=True)),
    _T.c.status == MessageStatus.SENDING,
    _T.c.claimed_by == bindparam("worker"),
)
# Built once: SQLAlchemy caches their compiled form, the IN lists expand at execution.
_HELD = select(_T.c.id, _T.c.annotations).where(_MINE).order_by(_T.c.id).with_for_update()
_CLEARED = {"attempts": _T.c.attempts + 1, "claimed_by": None, "lease_until": None}
_SENT_AT_ONCE = (
    update(_T).where(_MINE).values(**_SENT, sent_at=bindparam("at"), updated_at=bindparam("now"), **_CLEARED)
)
_INSERT_LOG = insert(_LOG)


def write_outcomes(
    connection: Connection, batch: Sequence[Done], *, worker_id: str, now: datetime
) -> list[bool]:
    """Record ``batch`` (this worker's outcomes) and their log lines in ``connection``'s transaction.

    Returns, per outcome, whether it was recorded (False: this worker no longer held the message).

    Raises:
        StoreError: an update changed another number of rows than this worker holds (the store
            changed under a row lock; the transaction is rolled back and the claims expire).
    """
    mine = {"ids": [done.item.id for done in batch], "worker": worker_id}
    held: dict[int, Any] = {row_id: notes for row_id, notes in connection.execute(_HELD, mine)}
    plain: dict[int, datetime] = {}
    single: list[tuple[int, dict[str, Any]]] = []
    for done in batch:
        row_id = done.item.id
        if row_id not in held:
            continue
        outcome = done.outcome
        if outcome.kind == "sent" and not outcome.refused:
            plain[row_id] = done.at
            del held[row_id]
        else:
            single.append((row_id, _values(outcome, dict(held.pop(row_id) or {}), done.at)))
    changed = 0
    if plain:
        changed += _update_sent(connection, plain, worker_id, now)
    for row_id, values in single:
        statement = update(_T).where(_MINE).values(**values, updated_at=now, **_CLEARED)
        changed += connection.execute(statement, {"ids": [row_id], "worker": worker_id}).rowcount
    recorded = plain.keys() | {row_id for row_id, _ in single}
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
    connection.execute(_INSERT_LOG, lines)
    return [done.item.id in recorded for done in batch]


def _update_sent(connection: Connection, times: dict[int, datetime], worker_id: str, now: datetime) -> int:
    """Mark the messages of ``times`` (id -> when the server accepted it) sent, in one statement."""
    mine: dict[str, Any] = {"ids": list(times), "worker": worker_id, "now": now}
    distinct = set(times.values())
    if len(distinct) == 1:
        return int(connection.execute(_SENT_AT_ONCE, {**mine, "at": distinct.pop()}).rowcount)
    for number, (row_id, at) in enumerate(times.items()):
        mine[f"id{number}"], mine[f"at{number}"] = row_id, at
    return int(connection.execute(_sent_at_each(len(times)), mine).rowcount)


@lru_cache(maxsize=128)
def _sent_at_each(count: int) -> Update:
    """The update marking ``count`` messages sent, ``sent_at`` by ``CASE id WHEN :idN THEN :atN``."""
    kind = _T.c.sent_at.type
    sent_at = case(
        *((_T.c.id == bindparam(f"id{n}"), bindparam(f"at{n}", type_=kind)) for n in range(count)),
        else_=bindparam("now", type_=kind),
    )
    return update(_T).where(_MINE).values(**_SENT, sent_at=sent_at, updated_at=bindparam("now"), **_CLEARED)
