"""Alembic's environment: migrate over the connection mailconduit hands in (or one made from the URL).

Run programmatically by ``mailconduit._store._migrate``; the connection carries the store's pragmas
(WAL, synchronous=FULL, foreign keys). Every upgrade runs in one transaction, on SQLite too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from mailconduit._store._engine import create_store_engine
from mailconduit._store._migrate import VERSION_TABLE
from mailconduit._store._models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        transactional_ddl=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url given to the migration environment")
    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("mailconduit migrations run online only: mailconduit db upgrade")
_main()
