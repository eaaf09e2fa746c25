"""Many-row INSERTs and UPDATE-by-id of a batch's results, at the driver's speed on SQLite.

SQLAlchemy's bulk paths build and convert parameters row by row, which for a 500-message batch
costs more than SQLite's own work (PERFORMANCE.md). On SQLite the statement is compiled once per
table and set of columns, each value is converted with the column type's own bind processor (the
same conversion SQLAlchemy applies), and the rows go to the DB-API cursor's ``executemany``.
Other databases take SQLAlchemy's ordinary ``executemany`` path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Dialect, Table, bindparam, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["converter", "insert_rows", "same", "update_by_id"]

Row = Mapping[str, Any]


def same(value: Any) -> Any:
    """The conversion of a column whose type needs none: the value itself."""
    return value


class _Compiled:
    """A statement compiled for one dialect, with the converter of each positional parameter."""

    def __init__(self, compiled: SQLCompiler, converters: list[tuple[str, Callable[[Any], Any]]]) -> None:
        self.sql = compiled.string
        self.converters = converters

    def values(self, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        converters = self.converters
        return [tuple(convert(row[name]) for name, convert in converters) for row in rows]


def converter(table: Table, column: str, dialect: Dialect) -> Callable[[Any], Any]:
    """How SQLAlchemy converts a value of ``table.column`` for ``dialect``'s driver (``same`` if not)."""
    process = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else same


@lru_cache(maxsize=32)
def _insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Compiled:
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    assert isinstance(compiled, SQLCompiler)
    order = list(compiled.positiontup or ())
    assert sorted(order) == sorted(columns), order
    return _Compiled(compiled, [(name, converter(table, name, dialect)) for name in order])


_KEY = "key_id"  # the id's bind name: "id" itself would clash with the column in the SET clause


@lru_cache(maxsize=32)
def _update(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Compiled:
    statement = (
        update(table).where(table.c.id == bindparam(_KEY)).values({name: bindparam(name) for name in columns})
    )
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    order = list(compiled.positiontup or ())
    assert sorted(order) == sorted([*columns, _KEY]), order
    converters = [(name, same if name == _KEY else converter(table, name, dialect)) for name in order]
    return _Compiled(compiled, converters)


def _cursor(session: Session) -> Any | None:
    if session.get_bind().dialect.name != "sqlite":
        return None
    driver: Any = session.connection().connection.driver_connection
    return driver.cursor()


def insert_rows(session: Session, table: Table, rows: Sequence[Row]) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table``, in the session's transaction."""
    if not rows:
        return
    cursor = _cursor(session)
    if cursor is None:
        session.execute(insert(table), list(rows))
        return
    compiled = _insert(table, tuple(rows[0]), session.get_bind().dialect)
    try:
        cursor.executemany(compiled.sql, compiled.values(rows))
    finally:
        cursor.close()


def update_by_id(session: Session, table: Table, rows: Sequence[Row]) -> None:
    """UPDATE ``table`` SET the other keys WHERE ``id`` = each row's ``id``, in the session's transaction."""
    if not rows:
        return
    cursor = _cursor(session)
    columns = tuple(name for name in rows[0] if name != "id")
    if cursor is None:
        session.execute(
            update(table).where(table.c.id == bindparam(_KEY)).values({n: bindparam(n) for n in columns}),
            [{**{n: row[n] for n in columns}, _KEY: row["id"]} for row in rows],
        )
        return
    compiled = _update(table, columns, session.get_bind().dialect)
    values = [{**row, _KEY: row["id"]} for row in rows]
    try:
        cursor.executemany(compiled.sql, compiled.values(values))
    finally:
        cursor.close()
