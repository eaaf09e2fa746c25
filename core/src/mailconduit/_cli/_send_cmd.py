"""``mailconduit send``: send a message now or queue it, from flags, a .eml file or a JSON file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json

__all__ = ["send"]


@click.command()
@click.option("--account", "-a", required=True, help="The sending account (a key under accounts:).")
@click.option("--to", multiple=True, help="Recipient(s); repeat, or separate with ',' or ';'.")
@click.option("--cc", multiple=True, help="Copy recipient(s).")
@click.option("--bcc", multiple=True, help="Blind copy recipient(s): in the envelope, never in headers.")
@click.option("--reply-to", "reply_to", multiple=True, help="Reply-To address(es).")
@click.option("--subject", "-s", default="", help="The subject.")
@click.option(
    "--text", "text_file", type=click.Path(exists=True, dir_okay=False), help="Plain-text body file."
)
@click.option("--html", "html_file", type=click.Path(exists=True, dir_okay=False), help="HTML body file.")
@click.option("--attach", multiple=True, type=click.Path(), help="Attach a file (repeatable).")
@click.option(
    "--inline", multiple=True, metavar="CID=FILE", help="Inline image, shown by <img src='cid:CID'>."
)
@click.option("--header", "headers", multiple=True, metavar="'Name: value'", help="A custom header.")
@click.option("--eml", type=click.Path(exists=True, dir_okay=False), help="Send this .eml's content instead.")
@click.option(
    "--json-message",
    "json_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the message from a JSON file instead of flags.",
)
@click.option("--template", "template_name", help="Render this template (store or templates: folder).")
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON or YAML data for --template's placeholders.",
)
@click.option("--language", help="The template's language variant to use.")
@click.option("--queue", "queue_it", is_flag=True, help="Queue it for `mailconduit outbox run` instead.")
@click.option("--at", "at", metavar="TIME", help="Send at this time (ISO 8601 or +10m); implies --queue.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def send(  # noqa: PLR0917 - one parameter per click option
    ctx: CliContext,
    account: str,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    reply_to: tuple[str, ...],
    subject: str,
    text_file: str | None,
    html_file: str | None,
    attach: tuple[str, ...],
    inline: tuple[str, ...],
    headers: tuple[str, ...],
    eml: str | None,
    json_file: str | None,
    template_name: str | None,
    data_file: str | None,
    language: str | None,
    queue_it: bool,
    at: str | None,
    as_json: bool,
) -> None:
    """Send a message through ACCOUNT now (following its retry rules), or queue it.

    The message is composed once (Message-ID and Date fixed), stored in the outbox, and sent over
    the account's transport; every attempt goes to the email log. Exit status 1 when it failed.
    """
    from mailconduit._cli._message_input import (
        message_from_eml,
        message_from_flags,
        message_from_json,
        parse_when,
    )
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._message import Address
    from mailconduit._outbox import Outbox

    config = ctx.config()
    if account not in config.accounts:
        raise click.ClickException(
            f"unknown account {account!r}; available: {', '.join(sorted(config.accounts)) or 'none'}"
        )
    when = parse_when(at)
    if template_name:
        _send_template(ctx, account, template_name, data_file, language, queue_it, when, as_json)
        return
    sender = Address(config.accounts[account].email, config.accounts[account].display_name)
    if eml:
        message = message_from_eml(Path(eml), sender)
    elif json_file:
        message = message_from_json(Path(json_file), sender)
    else:
        message = message_from_flags(
            sender=sender,
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            subject=subject,
            text=Path(text_file).read_text(encoding="utf-8") if text_file else None,
            html=Path(html_file).read_text(encoding="utf-8") if html_file else None,
            attach=attach,
            inline=inline,
            headers=headers,
        )
    if not message.recipients:
        raise click.UsageError("no recipients: give --to, --cc or --bcc (or a message file that has them)")
    store = open_cli_store(ctx)
    try:
        outbox = Outbox(store, config, ctx.plugins())
        if queue_it or when is not None:
            message_row = outbox.queue(account, message, at=when)
            result = {
                "id": message_row,
                "status": "queued",
                "scheduled_at": when.isoformat() if when else None,
            }
            if as_json:
                emit_json(result)
            else:
                click.echo(f"queued as {message_row}" + (f" for {when.isoformat()}" if when else ""))
            return
        report = outbox.send_now(account, message)
    finally:
        store.close()
    if as_json:
        emit_json(
            {
                "id": report.id,
                "message_id": report.message_id,
                "status": report.status.value,
                "attempts": report.attempts,
                "code": report.code,
                "reply": report.reply,
                "refused": dict(report.refused),
                "next_attempt_at": report.next_attempt_at.isoformat() if report.next_attempt_at else None,
            }
        )
    else:
        click.echo(f"{report.status.value}: message {report.id} {report.message_id or ''}".rstrip())
        if report.reply:
            click.echo(f"  server: {report.reply}")
        for address, reply in report.refused.items():
            click.echo(f"  refused {address}: {reply}")
        if report.next_attempt_at:
            click.echo(f"  next attempt at {report.next_attempt_at.isoformat()} (`mailconduit outbox run`)")
    if report.status.value == "failed":
        raise SystemExit(1)


def _send_template(  # noqa: PLR0917
    ctx: CliContext,
    account: str,
    name: str,
    data_file: str | None,
    language: str | None,
    queue_it: bool,
    when: datetime | None,
    as_json: bool,
) -> None:
    """Render template ``name`` with the data file and send or queue it through the outbox."""
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._cli._template_cmd import find_template, load_data
    from mailconduit._outbox import Outbox
    from mailconduit._templates import send_template

    template = find_template(ctx, name)
    data = load_data(data_file)
    store = open_cli_store(ctx)
    try:
        outbox = Outbox(store, ctx.config(), ctx.plugins())
        outcome = send_template(
            outbox, account, template, data, language=language, queue=True if queue_it else None, at=when
        )
    finally:
        store.close()
    report = outcome.report
    result = {
        "id": outcome.id,
        "status": outcome.status.value,
        "at": outcome.at.isoformat() if outcome.at else None,
        "reply": report.reply if report else None,
    }
    if as_json:
        emit_json(result)
    else:
        click.echo(f"{outcome.status.value}: message {outcome.id} from template {name!r}")
        if report and report.reply:
            click.echo(f"  server: {report.reply}")
    if outcome.status.value == "failed":
        raise SystemExit(1)
