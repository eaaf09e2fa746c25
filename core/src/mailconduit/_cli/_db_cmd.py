"""``mailconduit db``: create or upgrade the store's schema, and show its revision."""

from __future__ import annotations

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json
from mailconduit._cli._store_access import store_url

__all__ = ["db"]


@click.group()
def db() -> None:
    """Create or upgrade the store's schema.

    The store is `--db URL`, else $MAILCONDUIT_DB, else sqlite:///mailconduit.db (a file in the
    current directory). PostgreSQL: --db postgresql+psycopg://user@host/dbname.
    """


@db.command()
@click.pass_obj
def upgrade(obj: CliContext) -> None:
    """Create the schema, or upgrade it to this version's newest revision (rows are kept)."""
    from mailconduit._store import upgrade as upgrade_store
    from mailconduit._store._engine import display_url

    url = store_url(obj)
    before, after = upgrade_store(url)
    where = display_url(url)
    if before == after:
        click.echo(f"{where}: already at revision {after}")
    elif before is None:
        click.echo(f"{where}: created the schema at revision {after}")
    else:
        click.echo(f"{where}: upgraded from revision {before} to {after}")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def current(obj: CliContext, as_json: bool) -> None:
    """Show the store's schema revision and whether it needs `mailconduit db upgrade`.

    Exit status 0 when the schema is current, 1 when it needs an upgrade or is unknown.
    """
    from mailconduit._store._engine import create_store_engine, display_url, sqlite_path
    from mailconduit._store._migrate import current_revision, head_revision, known_revisions

    url = store_url(obj)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        revision = None
    else:
        engine = create_store_engine(url)
        try:
            revision = current_revision(engine)
        finally:
            engine.dispose()
    head = head_revision()
    if revision == head:
        state = "current"
    elif revision is None or revision in known_revisions():
        state = "needs upgrade: run `mailconduit db upgrade`"
    else:
        state = "unknown revision (made by a newer mailconduit): upgrade mailconduit"
    where = display_url(url)
    if as_json:
        emit_json({"store": where, "revision": revision, "head": head, "current": revision == head})
    else:
        click.echo(f"{where}: revision {revision or 'none'} (newest {head}): {state}")
    if revision != head:
        raise click.exceptions.Exit(1)
