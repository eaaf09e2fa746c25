"""Write a batch of attempt outcomes, with one email-log line per attempt, in one transaction.

The statements are few and cheap to run, so a batch costs about the same however many outcomes it
holds: one ``SELECT ... FOR UPDATE`` of the rows this worker still holds (``sending`` and
``claimed_by`` it); one executemany of a one-row ``UPDATE`` for every message the server accepted
without refusing a recipient (the usual case); one ``UPDATE`` per message for the rest (refusals
to record, retries with their own next attempt time, failures), with their annotations read
under the same lock; one executemany ``INSERT`` of the log lines. Every update names this worker
(``claimed_by``) and the rows it changed are counted against the rows found held. A message this
worker no longer holds (its claim expired and another worker took it over) is left as it is; its
attempt is still logged, as a possible duplicate.

The hot statements (the held rows, the plain ``sent`` marks, the log lines) run on the
transaction's own DB-API cursor with SQL built once per dialect and values converted by the
columns' own SQLAlchemy bind processors, so they store exactly what the ORM would: SQLAlchemy's
per-execution work (compiling expanding ``IN`` lists, processing each parameter of each row) cost
more CPU than SQLite's whole commit, and the recorder shares the interpreter with the session
threads. A one-row ``UPDATE`` by primary key also spares SQLite the statement journal (a temporary
file) that a multi-row ``UPDATE`` opens inside a transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from attrs import frozen
from sqlalchemy import (
    Connection,
    Dialect,
    Table,
    and_,
    bindparam,
    insert,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

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
# The rare path (refusals, retries, failures) stays in SQLAlchemy Core; built once, compiled once.
_NOTES = select(_T.c.id, _T.c.annotations).where(_MINE)
_CLEARED = {"attempts": _T.c.attempts + 1, "claimed_by": None, "lease_until": None}


class _Statement:
    """A Core statement compiled once for a dialect, run on the DB-API cursor with its values by name."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.text = compiled.string
        self.names = tuple(compiled.positiontup or ()) if compiled.positional else None

    def bind(self, values: dict[str, Any]) -> Any:
        """The parameters in the driver's form (a tuple in order, or the mapping itself)."""
        return values if self.names is None else tuple(values[name] for name in self.names)


_SENT_ROW = (
    update(_T)
    .where(
        _T.c.id == bindparam("row_id"),
        _T.c.status == bindparam("sending"),
        _T.c.claimed_by == bindparam("worker"),
    )
    .values(
        status=bindparam("sent_status"),
        next_attempt_at=null(),
        last_error=null(),
        sent_at=bindparam("at"),
        updated_at=bindparam("now"),
        attempts=_T.c.attempts + literal_column("1"),
        claimed_by=null(),
        lease_until=null(),
    )
)
_LOG_ROW = (
    insert(_LOG)
    .inline()
    .values(
        time=bindparam("at"),
        level=bindparam("level"),
        account=bindparam("account"),
        message_id=bindparam("row_id"),
        text=bindparam("line"),
    )
)


class _Sql:
    """The hot statements for one dialect, and the conversions of their values."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.sent = _Statement(_SENT_ROW, dialect)
        self.log = _Statement(_LOG_ROW, dialect)
        self.sent_at = _processor(_T.c.sent_at, dialect)
        self.updated_at = _processor(_T.c.updated_at, dialect)
        self.time = _processor(_LOG.c.time, dialect)
        status_value = _processor(_T.c.status, dialect)
        self.sending, self.sent_status = status_value(MessageStatus.SENDING), status_value(MessageStatus.SENT)
        level_value = _processor(_LOG.c.level, dialect)
        self.level = {level: level_value(level) for level in LogLevel}

    def held(self, cursor: DBAPICursor, ids: Sequence[int], worker_id: str) -> list[int]:
        """Of ``ids``, those this worker still holds (locked until the transaction ends)."""
        statement = _held(self.dialect, len(ids))
        values: dict[str, Any] = {f"id{n}": row_id for n, row_id in enumerate(ids)}
        values.update(sending=self.sending, worker=worker_id)
        cursor.execute(statement.text, statement.bind(values))
        return [row[0] for row in cursor.fetchall()]


@lru_cache(maxsize=256)
def _held(dialect: Dialect, count: int) -> _Statement:
    """``SELECT id ... FOR UPDATE`` of ``count`` ids still ``sending`` for this worker."""
    statement = (
        select(_T.c.id)
        .where(
            _T.c.id.in_([bindparam(f"id{n}") for n in range(count)]),
            _T.c.status == bindparam("sending"),
            _T.c.claimed_by == bindparam("worker"),
        )
        .order_by(_T.c.id)
        .with_for_update()
    )
    return _Statement(statement, dialect)


def _processor(column: Any, dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value of ``column`` before the driver gets it."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value


@lru_cache(maxsize=8)
def _sql(dialect: Dialect) -> _Sql:
    return _Sql(dialect)


def write_outcomes(
    connection: Connection, batch: Sequence[Done], *, worker_id: str, now: datetime
) -> list[bool]:
    """Record ``batch`` (this worker's outcomes) and their log lines in ``connection``'s transaction.

    Returns, per outcome, whether it was recorded (False: this worker no longer held the message).

    Raises:
        StoreError: an update changed another number of rows than this worker holds (the store
            changed under a row lock; the transaction is rolled back and the claims expire).
    """
    sql = _sql(connection.dialect)
    cursor = connection.connection.cursor()
    try:
        held = set(sql.held(cursor, [done.item.id for done in batch], worker_id))
        plain: list[Done] = []
        others: list[Done] = []
        for done in batch:
            if done.item.id not in held:
                continue
            held.discard(done.item.id)
            outcome = done.outcome
            (plain if outcome.kind == "sent" and not outcome.refused else others).append(done)
        changed = 0
        if plain:
            updated_at = sql.updated_at(now)
            common = {"sent_status": sql.sent_status, "now": updated_at, "sending": sql.sending}
            common["worker"] = worker_id
            rows = [{**common, "row_id": done.item.id, "at": sql.sent_at(done.at)} for done in plain]
            cursor.executemany(sql.sent.text, [sql.sent.bind(row) for row in rows])
            changed += cursor.rowcount
        if others:
            changed += _write_others(connection, others, worker_id, now)
        recorded = {done.item.id for done in plain} | {done.item.id for done in others}
        if changed != len(recorded):
            raise StoreError(
                f"outbox: recording {len(recorded)} outcomes of worker {worker_id} changed {changed} rows; "
                "the store changed under its row locks. Nothing was recorded; the claims expire and the "
                "messages are sent again. Check that no other program edits the messages table"
            )
        lines = []
        for done in batch:
            level, text = _line(done, done.item.id in recorded)
            values = {"at": sql.time(done.at), "level": sql.level[level], "line": text}
            lines.append(sql.log.bind({**values, "account": done.account, "row_id": done.item.id}))
        cursor.executemany(sql.log.text, lines)
    finally:
        cursor.close()
    return [done.item.id in recorded for done in batch]


def _write_others(connection: Connection, others: list[Done], worker_id: str, now: datetime) -> int:
    """Record refusals, retries and failures one row at a time (with the row's annotations)."""
    ids = [done.item.id for done in others]
    rows = connection.execute(_NOTES, {"ids": ids, "worker": worker_id})
    notes = {row_id: annotations for row_id, annotations in rows}
    changed = 0
    for done in others:
        row_id = done.item.id
        values = _values(done.outcome, dict(notes.get(row_id) or {}), done.at)
        statement = update(_T).where(_MINE).values(**values, updated_at=now, **_CLEARED)
        changed += connection.execute(statement, {"ids": [row_id], "worker": worker_id}).rowcount
    return changed
