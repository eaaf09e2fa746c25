"""``mailconduit folders ACCOUNT``: the folders of an account's mailbox, as a hierarchy with special uses."""

from __future__ import annotations

from typing import Any

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json, table
from mailconduit._cli._receive_access import receiving_account, translated_errors

__all__ = ["folders"]


def folder_rows(found: list[Any]) -> list[dict[str, Any]]:
    """Folders sorted as a tree, each with its parent, depth and leaf name (decoded names)."""
    rows = []
    for info in sorted(found, key=lambda f: f.name.split(f.delimiter) if f.delimiter else [f.name]):
        parts = info.name.split(info.delimiter) if info.delimiter else [info.name]
        rows.append(
            {
                "name": info.name,
                "leaf": parts[-1],
                "parent": info.delimiter.join(parts[:-1]) if len(parts) > 1 and info.delimiter else None,
                "depth": len(parts) - 1,
                "delimiter": info.delimiter,
                "special_use": info.special_use,
                "flags": sorted(info.flags),
            }
        )
    return rows


@click.command()
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def folders(ctx: CliContext, account: str, as_json: bool) -> None:
    """List ACCOUNT's folders: hierarchy, decoded names and special uses (Sent, Trash, Archive ...)."""
    from mailconduit._replicate._open import open_mailbox

    acct = receiving_account(ctx, account)
    with translated_errors(f"listing the folders of account {account!r}"):
        mailbox = open_mailbox(acct, ctx.plugins())
        try:
            if "folders" not in mailbox.capabilities():
                found = []
                protocol = acct.receive.protocol if acct.receive else "?"
                click.echo(f"the {protocol} mailbox has no folders besides INBOX", err=True)
            else:
                found = mailbox.folders()
        finally:
            mailbox.close()
    rows = (
        folder_rows(found)
        if found
        else [
            {
                "name": "INBOX",
                "leaf": "INBOX",
                "parent": None,
                "depth": 0,
                "delimiter": None,
                "special_use": None,
                "flags": [],
            }
        ]
    )
    if as_json:
        emit_json(rows)
        return
    table(
        f"Folders of {account}",
        ["folder", "special use", "flags", "full name"],
        [
            ["  " * r["depth"] + r["leaf"], r["special_use"] or "", " ".join(r["flags"]), r["name"]]
            for r in rows
        ],
    )
