"""``mailconduit draft``: make a draft from a template, list, show, edit and send it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from mailconduit._cli._context import CliContext

__all__ = ["draft"]


def _drafts(ctx: CliContext) -> Any:
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._templates import Drafts

    return Drafts(open_cli_store(ctx), ctx.config(), ctx.plugins())


@click.group()
def draft() -> None:
    """Drafts: messages rendered from a template, kept for review before sending."""


@draft.command("create")
@click.option("--template", "name", required=True, help="The template's name.")
@click.option("--data", "data_path", metavar="FILE", help="Data as JSON or YAML.")
@click.option("--account", required=True, help="The account that will send it.")
@click.option("--language", help="The language variant.")
@click.pass_obj
def create(ctx: CliContext, name: str, data_path: str | None, account: str, language: str | None) -> None:
    """Render a template into a new draft and print its id."""
    from mailconduit._cli._template_cmd import find_template, load_data

    drafts = _drafts(ctx)
    try:
        made = drafts.create(account, find_template(ctx, name), load_data(data_path), language=language)
    finally:
        drafts.store.close()
    click.echo(f"draft {made.id} created ({made.message.subject})")


@draft.command("list")
@click.option("--account", help="Only this account's drafts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_drafts(ctx: CliContext, account: str | None, as_json: bool) -> None:
    """List drafts, newest first."""
    from mailconduit._cli._output import records

    drafts = _drafts(ctx)
    try:
        rows = [d.as_dict() for d in drafts.list(account)]
    finally:
        drafts.store.close()
    for row in rows:
        row["to"] = ", ".join(row["to"])
    records(rows, ["id", "account", "template", "subject", "to", "updated_at"], "Drafts", as_json)


@draft.command("show")
@click.argument("draft_id", type=int)
@click.pass_obj
def show(ctx: CliContext, draft_id: int) -> None:
    """Print a draft's message."""
    from mailconduit._cli._template_cmd import show_message

    drafts = _drafts(ctx)
    try:
        found = drafts.get(draft_id)
    finally:
        drafts.store.close()
    click.echo(f"Draft {found.id} (account {found.account}, template {found.template})")
    show_message(found.message)


@draft.command("edit")
@click.argument("draft_id", type=int)
@click.option("--subject")
@click.option("--to", help="Addresses separated by , or ;.")
@click.option("--cc")
@click.option("--bcc")
@click.option("--reply-to", "reply_to")
@click.option(
    "--text", "text_file", type=click.Path(exists=True, dir_okay=False), help="File with the new text body."
)
@click.option(
    "--html", "html_file", type=click.Path(exists=True, dir_okay=False), help="File with the new HTML body."
)
@click.pass_obj
def edit(
    ctx: CliContext, /, draft_id: int, text_file: str | None, html_file: str | None, **fields: str | None
) -> None:
    """Change a draft's fields."""
    from pathlib import Path

    if text_file:
        fields["text"] = Path(text_file).read_text(encoding="utf-8")
    if html_file:
        fields["html"] = Path(html_file).read_text(encoding="utf-8")
    drafts = _drafts(ctx)
    try:
        drafts.edit(draft_id, **fields)
    finally:
        drafts.store.close()
    click.echo(f"draft {draft_id} updated")


@draft.command("send")
@click.argument("draft_id", type=int)
@click.option("--queue", is_flag=True, help="Queue it for an outbox worker instead of sending now.")
@click.option(
    "--at", "at", metavar="TIME", help="Send at this ISO time (with a UTC offset); implies --queue."
)
@click.pass_obj
def send(ctx: CliContext, draft_id: int, queue: bool, at: str | None) -> None:
    """Send a draft through the outbox (now, queued, or at a time)."""
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(
                f"{at!r} is not an ISO time such as 2030-01-01T09:00+00:00", param_hint="--at"
            ) from None
        if when.utcoffset() is None:
            raise click.BadParameter("give a UTC offset, such as 2030-01-01T09:00+00:00", param_hint="--at")
    drafts = _drafts(ctx)
    try:
        outcome = drafts.send(draft_id, queue=queue or None, at=when)
    finally:
        drafts.store.close()
    due = f" for {outcome.at.isoformat()}" if outcome.at else ""
    click.echo(f"draft {draft_id} -> message {outcome.id}: {outcome.status.value}{due}")
