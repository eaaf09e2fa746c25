"""``mailconduit log``: show the email log, newest first, filtered by account and level."""

from __future__ import annotations

import click

from mailconduit._cli._context import CliContext

__all__ = ["log"]

LEVELS = ["debug", "info", "warning", "error"]
COLUMNS = ["time", "level", "account", "message_id", "text"]


@click.command()
@click.option("--account", metavar="NAME", help="Only this account's entries.")
@click.option(
    "--level",
    type=click.Choice(LEVELS, case_sensitive=False),
    help="Only entries at this level or more severe.",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most N entries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def log(obj: CliContext, account: str | None, level: str | None, limit: int, as_json: bool) -> None:
    """Show the email log, newest first: what was sent, received, retried and why it failed."""
    from mailconduit._cli._output import records
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._store._repo_log import list_log

    store = open_cli_store(obj)
    try:
        with store.session(readonly=True) as session:
            entries = list_log(session, account=account, level=level and level.lower(), limit=limit)
    finally:
        store.close()
    records([entry.as_dict() for entry in entries], COLUMNS, "email log", as_json)
