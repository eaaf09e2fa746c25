"""Which store a CLI command uses, and opening it.

The URL is ``--db`` if given, else ``MAILCONDUIT_DB``, else ``sqlite:///mailconduit.db``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from mailconduit._cli._context import CliContext

if TYPE_CHECKING:
    from mailconduit._store import Store

__all__ = ["DB_ENV", "DEFAULT_DB", "open_cli_store", "store_url"]

DB_ENV = "MAILCONDUIT_DB"
DEFAULT_DB = "sqlite:///mailconduit.db"


def store_url(ctx: CliContext) -> str:
    """The store URL in effect: ``--db``, else ``$MAILCONDUIT_DB``, else ``sqlite:///mailconduit.db``."""
    if ctx.db_url:
        return ctx.db_url
    return os.environ.get(DB_ENV) or DEFAULT_DB


def open_cli_store(ctx: CliContext, *, create: bool = False) -> Store:
    """Open the store in effect; errors (missing, outdated) say to run ``mailconduit db upgrade``."""
    from mailconduit._store import open_store

    return open_store(store_url(ctx), create=create)
