"""``mailconduit fetch ACCOUNT``: replicate an account's folder into the store once, or keep watching it.

A run over more than one batch shows a progress bar on a terminal (plain ``progress:`` lines on
stderr when piped); the summary (fetched, stored, known, failed, moved, deleted, remaining) goes to
stdout, as JSON with ``--json``. ``--watch`` replicates, waits for new mail (IDLE, else polling) and
again until Ctrl-C or SIGTERM, printing each run's summary (one JSON object per line with
``--json``). A failed run is one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json, is_terminal
from mailconduit._cli._receive_access import receiving_account, summary, summary_line, translated_errors

__all__ = ["fetch"]

COUNTED = ("fetched", "stored", "known", "failed", "moved", "deleted")


class _ShowProgress:
    """The ``progress(done, total)`` callback: a rich bar on a terminal, plain lines when piped.

    Nothing is shown for a run that fits in one batch (the first report is already complete).
    """

    def __init__(self, *, enabled: bool, terminal: bool) -> None:
        self.enabled = enabled
        self.terminal = terminal
        self.long = False
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        self.long = self.long or done < total
        if not self.long:
            return
        if not self.terminal:
            click.echo(f"progress: {done}/{total}", err=True)
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("replicating"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("replicating", total=total)
        self._bar.update(self._task, completed=done, total=total)

    def __enter__(self) -> _ShowProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()


class _Interrupted(BaseException):
    """Raised from the signal handler to end a wait for new mail at once."""


class _Stopper:
    """Ctrl-C and SIGTERM handling for ``--watch``.

    The first signal asks the watch to stop after the batch in hand (at once when it is waiting for
    new mail); a second one stops at once.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.waiting = False
        self._previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        first = not self.stop.is_set()
        self.stop.set()
        if self.waiting or not first:
            raise _Interrupted

    def __enter__(self) -> _Stopper:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self.handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def _watch(ctx: CliContext, account: str, folder: str | None, as_json: bool) -> None:
    from mailconduit._replicate import watch

    acct = receiving_account(ctx, account)
    store = _open_store(ctx)
    totals = dict.fromkeys(COUNTED, 0)
    runs = 0

    with _Stopper() as stopper:

        def on_result(result: Any) -> None:
            nonlocal runs
            runs += 1
            for name in COUNTED:
                totals[name] += getattr(result, name)
            if as_json:
                click.echo(json.dumps(summary(result), sort_keys=True))
            else:
                click.echo(f"run {runs}: {summary_line(result)}")
            stopper.waiting = not result.remaining  # watch waits for new mail next

        try:
            with translated_errors(f"fetch --watch for account {account!r}"):
                watch(
                    acct,
                    store=store,
                    plugins=ctx.plugins(),
                    folder=folder,
                    cancel=stopper.stop,
                    on_result=on_result,
                )
        except _Interrupted:
            pass
        finally:
            store.close()
    counts = ", ".join(f"{name} {totals[name]}" for name in COUNTED)
    click.echo(f"stopped after {runs} run(s): {counts}", err=as_json)


def _open_store(ctx: CliContext) -> Any:
    from mailconduit._cli._store_access import open_cli_store

    with translated_errors("opening the store"):
        return open_cli_store(ctx)


@click.command()
@click.argument("account")
@click.option("--folder", help="The folder to replicate (default: the account's, else INBOX).")
@click.option(
    "--limit", type=click.IntRange(min=1), help="At most this many new messages (default: messages_per_run)."
)
@click.option(
    "--all", "everything", is_flag=True, help="Every new message, in batches, until the folder is done."
)
@click.option(
    "--watch",
    "keep_watching",
    is_flag=True,
    help="Keep replicating as mail arrives (IDLE, else polling) until Ctrl-C/SIGTERM.",
)
@click.option("--dry-run", is_flag=True, help="Only count the new messages; fetch, store and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def fetch(  # noqa: PLR0917 - one parameter per click option
    ctx: CliContext,
    account: str,
    folder: str | None,
    limit: int | None,
    everything: bool,
    keep_watching: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Replicate ACCOUNT's folder into the store and apply its after-replication action.

    Prints what the run did: fetched, stored (new), known (already stored), failed (a step
    rejected them; retried next run), moved or deleted on the server, and remaining (new messages
    beyond this run's limit). Exits 1 when the run fails.
    """
    if keep_watching:
        if dry_run or limit is not None:
            raise click.UsageError(
                "--watch replicates everything that arrives; it takes neither --dry-run nor --limit"
            )
        _watch(ctx, account, folder, as_json)
        return
    from mailconduit._replicate import replicate

    acct = receiving_account(ctx, account)
    store = _open_store(ctx)
    try:
        with (
            translated_errors(f"fetch for account {account!r}"),
            _ShowProgress(enabled=not as_json, terminal=is_terminal()) as progress,
        ):
            result = replicate(
                acct,
                store=store,
                plugins=ctx.plugins(),
                folder=folder,
                limit=limit,
                everything=True if everything else None,
                dry_run=dry_run,
                progress=progress,
            )
    finally:
        store.close()
    if as_json:
        emit_json({**summary(result), "dry_run": dry_run})
    else:
        click.echo(summary_line(result, dry_run=dry_run))
