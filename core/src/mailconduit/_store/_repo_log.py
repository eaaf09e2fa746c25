"""The email log: add an entry, list entries filtered by account, level and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from attrs import define
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailconduit._store._columns import utcnow
from mailconduit._store._models import EmailLog, LogLevel

__all__ = ["LogEntry", "add_log", "list_log"]


@define(frozen=True, kw_only=True)
class LogEntry:
    """One email-log entry, detached from the session."""

    id: int
    time: datetime
    level: LogLevel
    account: str | None
    message_id: int | None
    text: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (ISO time, level as text)."""
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "level": self.level.value,
            "account": self.account,
            "message_id": self.message_id,
            "text": self.text,
        }


def add_log(
    session: Session,
    level: LogLevel | str,
    text: str,
    *,
    account: str | None = None,
    message_id: int | None = None,
    time: datetime | None = None,
) -> int:
    """Add an entry to the email log and return its id (committed with the session's transaction).

    Args:
        session: an open session.
        level: ``debug``, ``info``, ``warning`` or ``error``.
        text: what happened; never a secret.
        account: the account it concerns, if any.
        message_id: the stored message it concerns, if any.
        time: when (aware); now by default.
    """
    row = EmailLog(
        level=LogLevel(level), text=text, account=account, message_id=message_id, time=time or utcnow()
    )
    session.add(row)
    session.flush()
    return row.id


def list_log(
    session: Session,
    *,
    account: str | None = None,
    level: LogLevel | str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[LogEntry]:
    """List log entries, newest first.

    Args:
        session: an open session.
        account: only this account's entries.
        level: only entries at this level or more severe (``warning`` gives warnings and errors).
        since: only entries at or after this time.
        limit: at most this many entries.
    """
    query = select(EmailLog)
    if account is not None:
        query = query.where(EmailLog.account == account)
    if level is not None:
        wanted: Sequence[LogLevel] = [lv for lv in LogLevel if lv.rank >= LogLevel(level).rank]
        query = query.where(EmailLog.level.in_(wanted))
    if since is not None:
        query = query.where(EmailLog.time >= since)
    query = query.order_by(EmailLog.time.desc(), EmailLog.id.desc()).limit(limit)
    return [
        LogEntry(
            id=row.id,
            time=row.time,
            level=row.level,
            account=row.account,
            message_id=row.message_id,
            text=row.text,
        )
        for row in session.scalars(query)
    ]
