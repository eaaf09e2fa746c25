"""Engines for the store, with the durability settings RELIABILITY.md A11 asks for on every connection.

SQLite (the default, one file): ``journal_mode=WAL``, ``synchronous=FULL``, ``foreign_keys=ON``,
64 KiB pages for new files (raw blobs, PERFORMANCE.md), a busy timeout, and transactions begun by
SQLAlchemy rather than by the sqlite3 module, so DDL in migrations is transactional too; sessions
that write begin ``IMMEDIATE`` (execution option :data:`WRITER`), so concurrent writers wait their
turn instead of failing. A new store file is created with mode 0600.

PostgreSQL (by URL, ``postgresql+psycopg://...``): ``synchronous_commit`` is checked on every new
connection and turned back on for mailconduit's sessions when the server has it off.

SQL parameters are never logged (``hide_parameters``): they carry mail and encrypted secrets.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from mailconduit._errors import StoreError

__all__ = ["WRITER", "check_durability", "create_store_engine", "display_url", "sqlite_path"]

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_SIZE = 65_536
SQLITE_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
WRITER = "mailconduit_writer"
"""Execution option: this connection's transactions write (SQLite begins them IMMEDIATE)."""


def parse_url(url: str) -> URL:
    """Parse a store URL or raise :class:`StoreError` saying what a valid one looks like."""
    try:
        return make_url(url)
    except ArgumentError:
        raise StoreError(
            f"store URL {url.rsplit('@', maxsplit=1)[-1]!r} is not a database URL; use "
            "sqlite:///mailconduit.db or postgresql+psycopg://user@host/dbname"
        ) from None


def display_url(url: str | URL) -> str:
    """The URL with any password masked, safe for messages and logs."""
    parsed = parse_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL; None for other databases and for in-memory SQLite."""
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_store_engine(url: str) -> Engine:
    """Create an engine for ``url`` with mailconduit's connection settings.

    Raises:
        StoreError: the URL is malformed, names an unsupported database, or its driver is missing.
    """
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        if backend == "postgresql":
            return _postgresql_engine(parsed)
    except NoSuchModuleError as exc:
        raise StoreError(f"store {display_url(parsed)}: no database driver ({exc})") from None
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"store {display_url(parsed)}: the driver {exc.name!r} is not installed; "
            "for PostgreSQL: pip install 'mailconduit[postgresql]'"
        ) from None
    raise StoreError(
        f"store {display_url(parsed)}: {backend!r} is not supported; use sqlite:///FILE or "
        "postgresql+psycopg://user@host/dbname"
    )


def _sqlite_engine(url: URL) -> Engine:
    path = sqlite_path(url)
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if path is None:  # in memory: one connection, or every session would see its own empty database
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        _create_private_file(path)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy, not the sqlite3 module, decides where transactions begin (see "begin" below)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")  # only affects a new file
            if path is not None:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front (waiting up to the busy timeout): a deferred
        # transaction that reads, then writes, fails at once with "database is locked" when another
        # writer got there first. Everything else keeps the lock-free deferred BEGIN.
        writer = connection.get_execution_options().get(WRITER, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def _create_private_file(path: Path) -> None:
    """Create a missing store file with mode 0600 (SQLite gives its -wal and -shm files the same).

    A path that is a symbolic link to a file not made yet creates that file (where the link points).
    """
    path = path.resolve()
    if path.exists():
        return
    if not path.parent.is_dir():
        raise StoreError(
            f"store {path}: the directory {path.parent} does not exist; create it or pass another --db"
        )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def _postgresql_engine(url: URL) -> Engine:
    # No cap on the pool's overflow: a runner's pipeline thread holds two connections during a run
    # (the folder's run lock and its session), so twenty pipelines need forty at once; a capped
    # pool (5 + 10 by default) left them all holding one and waiting 30 s for a second. The
    # threads bound the count; five idle connections are kept.
    engine = create_engine(url, hide_parameters=True, pool_pre_ping=True, max_overflow=-1)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SHOW synchronous_commit")
            (value,) = cursor.fetchone()
            if value == "off":
                log.warning("PostgreSQL has synchronous_commit=off; mailconduit turns it on for its sessions")
                cursor.execute("SET synchronous_commit TO on")
        finally:
            cursor.close()
        dbapi_connection.commit()

    return engine


def check_durability(engine: Engine) -> None:
    """Check on a fresh connection that commits are durable (RELIABILITY.md A11).

    SQLite must be in WAL mode with ``synchronous=FULL``; PostgreSQL must not have
    ``synchronous_commit=off``. Replication that deletes or moves mail on the server calls this
    before it starts.

    Raises:
        StoreError: a setting that could lose committed mail on a crash, named with its value.
    """
    where = display_url(engine.url)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            mode = str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
            sync = connection.exec_driver_sql("PRAGMA synchronous").scalar()
            if sqlite_path(engine.url) is not None and mode != "wal":
                raise StoreError(f"store {where}: journal_mode is {mode}, not wal; commits may be lost")
            if sync != SQLITE_FULL:
                raise StoreError(f"store {where}: synchronous is {sync}, not 2 (FULL); commits may be lost")
        elif engine.dialect.name == "postgresql":
            value = connection.exec_driver_sql("SHOW synchronous_commit").scalar()
            if value == "off":
                raise StoreError(
                    f"store {where}: synchronous_commit is off; set it to on (ALTER DATABASE ... SET "
                    "synchronous_commit = on) so committed mail survives a crash"
                )
