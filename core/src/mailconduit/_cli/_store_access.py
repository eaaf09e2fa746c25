"""Which store a CLI command uses, and opening it.

The URL is ``--db`` if given, else ``MAILCONDUIT_DB``, else the config's ``database:`` when a config
file is in effect, else ``sqlite:///mailconduit.db``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from mailconduit._cli._context import CliContext

if TYPE_CHECKING:
    from mailconduit._secret import Secret
    from mailconduit._store import Store

__all__ = ["DB_ENV", "DEFAULT_DB", "open_cli_store", "secret_key", "store_url"]

DB_ENV = "MAILCONDUIT_DB"
DEFAULT_DB = "sqlite:///mailconduit.db"


def store_url(ctx: CliContext) -> str:
    """The store URL in effect: ``--db``, ``$MAILCONDUIT_DB``, the config's ``database:``, the default."""
    if ctx.db_url:
        return ctx.db_url
    env = os.environ.get(DB_ENV)
    if env:
        return env
    if ctx.config_file() is not None:
        return ctx.config().database
    return DEFAULT_DB


def secret_key(ctx: CliContext) -> Secret | None:
    """The config's ``secret_key`` when a config file is in effect (the keyring tries it first)."""
    if ctx.config_file() is None:
        return None
    key: Secret | None = ctx.config().secret_key
    return key


def open_cli_store(ctx: CliContext, *, create: bool = False) -> Store:
    """Open the store in effect; errors (missing, outdated) say to run ``mailconduit db upgrade``."""
    from mailconduit._store import open_store

    return open_store(store_url(ctx), create=create)
