"""Portable column types: timezone-aware UTC datetimes and string-valued enums.

SQLite has no timezone-aware timestamp and PostgreSQL's ``timestamptz`` comes back in the session's
zone; :class:`UtcDateTime` makes both give aware UTC datetimes and refuses naive ones on the way in.
:class:`StrEnumColumn` keeps enums as their plain string values (no database enum type to migrate
when a value is added) and turns them back into the enum on load.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["BigIntId", "JsonColumn", "StrEnumColumn", "UtcDateTime", "utcnow"]

E = TypeVar("E", bound=enum.StrEnum)

BigIntId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit id that is still SQLite's ``INTEGER PRIMARY KEY`` (the rowid, auto-assigned)."""

JsonColumn: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
"""JSON: JSONB on PostgreSQL, JSON text on SQLite."""


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A datetime stored in UTC and always returned timezone-aware (UTC).

    Naive datetimes are refused on bind: a naive value is ambiguous and would be stored wrong.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; refuse naive values."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware one (UTC)")
        value = value.astimezone(UTC)
        # SQLite keeps text; storing it without an offset keeps its sort order lexicographic
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumColumn(TypeDecorator[E], Generic[E]):
    """A ``StrEnum`` stored as its string value in a ``VARCHAR``.

    Args:
        enum_type: the enum class.
        length: the column's length (longest value it must hold, with room to grow).
    """

    impl = String
    cache_ok = True

    def __init__(self, enum_type: type[E], length: int = 32) -> None:
        super().__init__(length=length)
        self.enum_type = enum_type

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        """Store the value; a string must be one of the enum's values."""
        if value is None:
            return None
        return self.enum_type(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        """Load as the enum."""
        return None if value is None else self.enum_type(value)
