"""Run the store's Alembic migrations programmatically and tell where a database stands.

The Alembic environment ships inside the package (``migrations/``); no ``alembic.ini`` is needed.
The revision is kept in the table ``mailconduit_alembic_version``, so an application's own Alembic
history can share the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from mailconduit._errors import StoreError
from mailconduit._store._engine import WRITER

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MIGRATIONS", "VERSION_TABLE", "alembic_config", "current_revision", "head_revision", "migrate"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "mailconduit_alembic_version"
UPGRADE_HINT = "run `mailconduit db upgrade`"


def alembic_config() -> Config:
    """An Alembic config for the packaged migrations (a connection goes in ``attributes``)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """The newest revision this version of mailconduit knows."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise StoreError(f"the packaged migrations have {len(heads)} heads ({heads}); reinstall mailconduit")
    return heads[0]


def known_revisions() -> set[str]:
    """Every revision of the packaged migrations."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when it has no mailconduit schema yet."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()  # noqa: S608
    if len(rows) > 1:
        raise StoreError(f"the store's {VERSION_TABLE} table has {len(rows)} rows; it must have one")
    return rows[0] if rows else None


def migrate(engine: Engine, revision: str = "heads") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` (default: the newest), in one transaction.

    Raises:
        StoreError: the database is at a revision this mailconduit does not know (it is newer).
    """
    from alembic import command

    current = current_revision(engine)
    if current is not None and current not in known_revisions():
        raise unknown_revision_error(engine, current)
    with engine.connect().execution_options(**{WRITER: True}) as connection, connection.begin():
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def unknown_revision_error(engine: Engine, revision: str) -> StoreError:
    """The error for a database migrated by a newer mailconduit."""
    from mailconduit._store._engine import display_url

    return StoreError(
        f"store {display_url(engine.url)} is at revision {revision!r}, which this version of mailconduit "
        f"does not know (it knows up to {head_revision()!r}); a newer mailconduit migrated it: "
        "upgrade mailconduit, or use another --db"
    )


def outdated_error(engine: Engine, revision: str | None) -> StoreError:
    """The error for a database that needs ``mailconduit db upgrade`` first."""
    from mailconduit._store._engine import display_url

    where = f"store {display_url(engine.url)}"
    if revision is None:
        return StoreError(f"{where} has no mailconduit schema; {UPGRADE_HINT} to create it")
    return StoreError(
        f"{where} is at revision {revision!r}, this mailconduit needs {head_revision()!r}; {UPGRADE_HINT}"
    )
