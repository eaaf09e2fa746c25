"""``mailconduit outbox``: run the worker, list queued and sent mail, retry a failed message."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json, is_terminal, records

__all__ = ["outbox"]


def _open(ctx: CliContext) -> Any:
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._outbox import Outbox

    store = open_cli_store(ctx)
    return Outbox(store, ctx.config(), ctx.plugins()), store


@click.group()
def outbox() -> None:
    """The outbox: queued mail, the worker that sends it, and what became of each message."""


@outbox.command("run")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the final counts as JSON.")
@click.pass_obj
def run(ctx: CliContext, once: bool, as_json: bool) -> None:
    """Send queued messages over reused sessions until stopped (Ctrl-C or SIGTERM finish the batch)."""
    box, store = _open(ctx)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    show = is_terminal() and not as_json

    def progress(stats: Any) -> None:
        if show:
            counts = f"sent {stats.sent}  retried {stats.retried}  failed {stats.failed}"
            sys.stdout.write(f"\r{counts}  claimed {stats.claimed}   ")
            sys.stdout.flush()

    try:
        stats = box.run(once=once, stop=stop, progress=progress)
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        store.close()
    if show:
        click.echo("")
    summary = {
        "claimed": stats.claimed,
        "sent": stats.sent,
        "retried": stats.retried,
        "failed": stats.failed,
        "ambiguous": stats.ambiguous,
        "reclaimed": stats.reclaimed,
        "sessions": stats.sessions,
        "errors": list(stats.errors),
    }
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"sent {stats.sent}, retried {stats.retried}, failed {stats.failed}, "
            f"ambiguous {stats.ambiguous}, sessions {stats.sessions}"
        )
        for error in stats.errors:
            click.echo(f"  error: {error}", err=True)
    if stats.errors:
        raise SystemExit(1)


@outbox.command("list")
@click.option(
    "--status", type=click.Choice(["queued", "sending", "sent", "failed"]), help="Only this status."
)
@click.option("--account", help="Only this account.")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_(ctx: CliContext, status: str | None, account: str | None, limit: int, as_json: bool) -> None:
    """List outgoing messages with their status, attempts and last error."""
    from mailconduit._message import MessageStatus

    box, store = _open(ctx)
    try:
        entries = box.list(status=MessageStatus(status) if status else None, account=account, limit=limit)
    finally:
        store.close()
    rows = [entry.as_dict() for entry in entries]
    for row in rows:
        row["to"] = ", ".join(row["recipients"])
    records(
        rows,
        ["id", "account", "status", "attempts", "to", "subject", "next_attempt_at", "last_error"],
        "Outbox",
        as_json,
    )


@outbox.command("retry")
@click.argument("message_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def retry(ctx: CliContext, message_id: int, as_json: bool) -> None:
    """Put a failed message back in the queue (its attempts start again)."""
    box, store = _open(ctx)
    try:
        entry = box.retry(message_id)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if as_json:
        emit_json(entry.as_dict())
    else:
        click.echo(f"message {entry.id} is {entry.status.value} again")
