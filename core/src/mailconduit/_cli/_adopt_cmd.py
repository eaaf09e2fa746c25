"""``mailconduit adopt ACCOUNT``: record what a folder holds now as already seen, without downloading it."""

from __future__ import annotations

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json
from mailconduit._cli._receive_access import receiving_account, translated_errors

__all__ = ["adopt"]


@click.command()
@click.argument("account")
@click.option("--folder", help="The folder (default: the account's, else INBOX).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def adopt(ctx: CliContext, account: str, folder: str | None, as_json: bool) -> None:
    """Record every message ACCOUNT's folder holds now as already seen; later fetches take only newer mail.

    Nothing is downloaded, stored or changed on the server. Exits 1 when it fails.
    """
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._replicate import adopt as adopt_folder

    acct = receiving_account(ctx, account)
    where = folder or (acct.receive.effective_folder if acct.receive else "INBOX")
    with translated_errors(f"adopt for account {account!r}"):
        store = open_cli_store(ctx)
        try:
            result = adopt_folder(acct, store=store, plugins=ctx.plugins(), folder=folder)
        finally:
            store.close()
    if result.already_running:
        raise click.ClickException(
            f"account {account!r}, folder {where!r} is being replicated by another process; "
            "nothing was adopted"
        )
    if as_json:
        emit_json({"account": account, "folder": where, "adopted": result.adopted, "known": result.known})
    else:
        click.echo(
            f"adopted {result.adopted} message(s) in {where!r} as already seen "
            f"({result.known} were known before); later fetches take only newer mail"
        )
