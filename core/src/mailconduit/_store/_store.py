"""Open the store: an engine with the durability settings, checked to be at the newest schema.

``open_store(url)`` creates the schema in an empty database (``create=True``) but never upgrades an
existing one behind the user's back: a database at an older revision, or one a newer mailconduit
migrated, is a :class:`StoreError` saying what to run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailconduit._errors import StoreError
from mailconduit._store._engine import (
    WRITER,
    check_durability,
    create_store_engine,
    display_url,
    sqlite_path,
)
from mailconduit._store._migrate import (
    current_revision,
    head_revision,
    known_revisions,
    migrate,
    outdated_error,
    unknown_revision_error,
)
from mailconduit._store._models import Base
from mailconduit._store._segments import close_writer

__all__ = ["Store", "open_store", "upgrade"]


class Store:
    """An open store: its engine and sessions.

    Attributes:
        engine: the SQLAlchemy engine (connections carry the durability settings).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Store({display_url(self.engine.url)!r})"

    @property
    def url(self) -> str:
        """The store's URL with any password masked."""
        return display_url(self.engine.url)

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back if it raises.

        Args:
            readonly: the session only reads; on SQLite it then takes no write lock and never
                waits for a writer. Writing sessions take SQLite's write lock when they begin.
        """
        with self._sessions() as session, session.begin():
            session.connection(execution_options={WRITER: not readonly})
            yield session

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate the schema to the newest revision; return (revision before, revision after)."""
        before = current_revision(self.engine)
        migrate(self.engine)
        return before, head_revision()

    def revision(self) -> str | None:
        """The schema revision of the database (None when it has none)."""
        return current_revision(self.engine)

    def check_durability(self) -> None:
        """Raise :class:`StoreError` unless commits are durable (RELIABILITY.md A11)."""
        check_durability(self.engine)

    def close(self) -> None:
        """Close every pooled connection and release this process's segment file."""
        self.engine.dispose()
        database = sqlite_path(self.engine.url)
        if database is not None:
            close_writer(database)


def open_store(url: str, *, create: bool = True) -> Store:
    """Open the store at ``url``, checked to be at the schema this mailconduit needs.

    Args:
        url: ``sqlite:///path/file.db`` or ``postgresql+psycopg://user@host/dbname``.
        create: create the schema when the database is empty (a missing SQLite file is created,
            mode 0600). With False an empty or missing database is an error.

    Raises:
        StoreError: the URL or driver is wrong; the database is empty (``create=False``), at an
            older revision, at a revision newer than this mailconduit, or holds mailconduit's
            tables without a revision. Each message says what to run.
    """
    path = sqlite_path(url)
    if not create and path is not None and not path.exists():
        raise StoreError(f"no store at {path}: run `mailconduit db upgrade` to create it, or pass --db URL")
    engine = create_store_engine(url)
    try:
        _check_revision(engine, create=create)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def _check_revision(engine: Engine, *, create: bool) -> None:
    from sqlalchemy import inspect

    revision = current_revision(engine)
    if revision is None:
        with engine.connect() as connection:
            ours = sorted(set(inspect(connection).get_table_names()) & set(Base.metadata.tables))
        if ours:
            raise StoreError(
                f"store {display_url(engine.url)} has mailconduit tables ({', '.join(ours)}) but no schema "
                "revision; it was not made by `mailconduit db upgrade`: restore it from a backup or use an "
                "empty database"
            )
        if not create:
            raise outdated_error(engine, None)
        migrate(engine)
        return
    if revision not in known_revisions():
        raise unknown_revision_error(engine, revision)
    if revision != head_revision():
        raise outdated_error(engine, revision)


def upgrade(url: str) -> tuple[str | None, str]:
    """Create or upgrade the schema at ``url`` to the newest revision.

    Returns:
        The revision before (None for an empty database) and after.

    Raises:
        StoreError: the URL is wrong, or a newer mailconduit migrated the database.
    """
    engine = create_store_engine(url)
    try:
        return Store(engine).upgrade()
    finally:
        engine.dispose()
