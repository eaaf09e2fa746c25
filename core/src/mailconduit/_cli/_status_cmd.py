"""``mailconduit status``: every pipeline's health and every outbox's depth, from the store."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import is_terminal
from mailconduit._cli._receive_access import translated_errors

if TYPE_CHECKING:
    from mailconduit._runner import StatusReport

__all__ = ["status"]


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = int((now - value).total_seconds())
    return f"{timedelta(seconds=max(0, seconds))} ago"


def _until(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = int((value - now).total_seconds())
    return f"in {timedelta(seconds=seconds)}" if seconds >= 0 else f"LAPSED {timedelta(seconds=-seconds)} ago"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def status(ctx: CliContext, as_json: bool) -> None:
    """Show each pipeline's mode, last run, lag, last error and token expiry, and each outbox's depth.

    Exits 1 when some pipeline is not healthy (in error, stalled, never run, or no recent success).
    """
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._runner import read_status

    config = ctx.config()
    with translated_errors("opening the store"):
        store = open_cli_store(ctx)
    try:
        report = read_status(store, config)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, sort_keys=True))
    elif is_terminal():
        _print(report)
    else:
        _print_lines(report)
    if not report.healthy:
        sys.exit(1)


def _print_lines(report: StatusReport) -> None:
    """One line per pipeline, outbox and worker: for pipes, logs and narrow screens."""
    now = report.generated_at
    for p in report.pipelines:
        lag = "-" if p.lag is None else str(p.lag)
        click.echo(
            f"pipeline {p.name} ({p.account}/{p.folder}): {p.state}, mode {p.mode or '-'}, "
            f"last success {_ago(p.last_success_at, now)}, lag {lag}, "
            f"token {_until(p.token_expires_at, now)}, runner {p.runner or '-'}"
            + ("" if p.healthy else " [NOT healthy]")
        )
        if p.last_error and not p.healthy:
            click.echo(f"  last error {_ago(p.last_error_at, now)}: {p.last_error}")
    for o in report.outboxes:
        oldest = "-" if o.oldest_age_seconds is None else str(timedelta(seconds=int(o.oldest_age_seconds)))
        click.echo(f"outbox {o.account}: queued {o.queued}, oldest {oldest}, failed {o.failed}")
    for w in report.workers:
        click.echo(f"outbox worker on {w.runner}: {w.state}, last report {_ago(w.last_run_at, now)}")
    click.echo("healthy" if report.healthy else "NOT healthy")


def _print(report: StatusReport) -> None:
    from rich.console import Console
    from rich.table import Table

    now = report.generated_at
    console = Console(soft_wrap=True)
    table = Table(title="pipelines", title_justify="left")
    for column in ("pipeline", "account/folder", "state", "mode", "last success", "lag", "token", "runner"):
        table.add_column(column)
    for p in report.pipelines:
        state = p.state if p.healthy else f"[red]{p.state}[/red]"
        table.add_row(
            p.name,
            f"{p.account}/{p.folder}",
            state,
            p.mode or "-",
            _ago(p.last_success_at, now),
            "-" if p.lag is None else str(p.lag),
            _until(p.token_expires_at, now),
            p.runner or "-",
        )
    console.print(table)
    for p in report.pipelines:
        if p.last_error and (p.state in ("error", "stalled") or not p.healthy):
            console.print(
                f"[red]{p.name}[/red]: last error {_ago(p.last_error_at, now)}: {p.last_error}",
                markup=True,
                highlight=False,
            )
    boxes = Table(title="outboxes", title_justify="left")
    for column in ("account", "queued", "oldest", "failed"):
        boxes.add_column(column)
    for o in report.outboxes:
        oldest = "-" if o.oldest_age_seconds is None else str(timedelta(seconds=int(o.oldest_age_seconds)))
        boxes.add_row(o.account, str(o.queued), oldest, str(o.failed))
    console.print(boxes)
    for w in report.workers:
        console.print(f"outbox worker on {w.runner}: {w.state}, last report {_ago(w.last_run_at, now)}")
    console.print("healthy" if report.healthy else "[red]NOT healthy[/red]")
