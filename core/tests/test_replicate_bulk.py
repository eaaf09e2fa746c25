"""Commit 2's many-row writes (``_replicate._bulk``): what the ORM reads back is what was written.

The SQLite path bypasses SQLAlchemy's parameter handling, so the column types' conversions
(enums, JSON, aware datetimes, NULLs) are checked on SQLite and, through SQLAlchemy, on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mailconduit._message import MessageStatus
from mailconduit._replicate._bulk import insert_rows, update_by_id
from mailconduit._store import Store, open_store
from mailconduit._store._models import Direction, EmailLog, LogLevel, MessageRow

WHEN = datetime(2026, 11, 23, 16, 45, 7, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    else:
        opened = open_store(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


def test_rows_written_in_bulk_read_back_through_the_orm(store: Store) -> None:
    with store.session() as session:
        row = MessageRow(
            direction=Direction.INCOMING, account="bulk", status=MessageStatus.RECEIVED, folder="INBOX",
            uidvalidity=7, uid=1, sha256="0" * 64, size=1, defects=[], annotations={}, attempts=0,
        )  # fmt: skip
        session.add(row)
        session.flush()
        mid = row.id
        update_by_id(
            session,
            MessageRow.__table__,  # type: ignore[arg-type]
            [
                {
                    "id": mid,
                    "defects": ["limit_exceeded: x", "é"],
                    "annotations": {"steps_done": "0:store", "k": "ü"},
                    "last_error": None,
                    "attempts": 3,
                    "updated_at": WHEN,
                }
            ],
        )
        insert_rows(
            session,
            EmailLog.__table__,  # type: ignore[arg-type]
            [
                {"time": WHEN, "level": LogLevel.WARNING, "account": "bulk", "message_id": mid, "text": "a"},
                {"time": WHEN, "level": LogLevel.INFO, "account": "bulk", "message_id": None, "text": "b"},
            ],
        )
    with store.session(readonly=True) as session:
        got = session.get(MessageRow, mid)
        assert got is not None
        assert (got.defects, got.annotations, got.last_error, got.attempts, got.updated_at) == (
            ["limit_exceeded: x", "é"],
            {"steps_done": "0:store", "k": "ü"},
            None,
            3,
            WHEN,
        )
        logs = session.scalars(
            select(EmailLog).where(EmailLog.account == "bulk").order_by(EmailLog.text)
        ).all()
        assert [(e.time, e.level, e.message_id, e.text) for e in logs] == [
            (WHEN, LogLevel.WARNING, mid, "a"),
            (WHEN, LogLevel.INFO, None, "b"),
        ]
