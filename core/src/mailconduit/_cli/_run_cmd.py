"""``mailconduit run``: every pipeline and the outbox worker, until SIGTERM or Ctrl-C.

SIGHUP reloads the configuration (a configuration with errors is refused, logged, and the running
one kept). The first SIGTERM/SIGINT stops after the batch in hand; a second one exits at once.
``--once`` runs every pipeline once and drains the outbox once, then exits (status 1 when any
pipeline failed), for cron and tests.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._receive_access import summary, summary_line, translated_errors

__all__ = ["run"]

log = logging.getLogger("mailconduit.runner")


def _reload(ctx: CliContext, runner: Any) -> None:
    from mailconduit._config import load_config
    from mailconduit._errors import MailconduitError

    path = ctx.config_file()
    if path is None:
        log.error("reload: no configuration file to read; keeping the running configuration")
        return
    try:
        config = load_config(path, ctx.plugins(), db_url=ctx.db_url)
    except MailconduitError as exc:
        log.error("reload refused, keeping the running configuration: %s", exc)
        return
    if config.database != runner.config.database:
        log.error("reload refused: the database cannot change while running; restart instead")
        return
    log.info("reloading the configuration from %s", path)
    runner.reload(config)


def _forever(ctx: CliContext, runner: Any) -> None:
    stopping = threading.Event()
    reload_asked = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            log.error("second signal: exiting now")
            sys.exit(130)
        log.info("stopping after the batch in hand (signal %s)", signal.Signals(signum).name)
        stopping.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        reload_asked.set()

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        runner.start()
        while not stopping.wait(0.5):
            if reload_asked.is_set():
                reload_asked.clear()
                _reload(ctx, runner)
        runner.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command()
@click.option("--once", is_flag=True, help="Run every pipeline once, drain the outbox once, and exit.")
@click.option("--pipeline", "only", multiple=True, help="Run only this pipeline (repeatable).")
@click.option("--no-outbox", is_flag=True, help="Do not run the outbox worker in this process.")
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    help="Serve /health and /metrics on 127.0.0.1:PORT (default: runner.health_port).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Logs on stderr as text or one JSON object per line.",
)
@click.option("--json", "as_json", is_flag=True, help="With --once: print the results as JSON.")
@click.pass_obj
def run(  # noqa: PLR0917 - one parameter per click option
    ctx: CliContext,
    once: bool,
    only: tuple[str, ...],
    no_outbox: bool,
    health_port: int | None,
    log_format: str,
    as_json: bool,
) -> None:
    """Run every pipeline (IDLE or polling) and the outbox worker until stopped.

    SIGHUP reloads the configuration; SIGTERM or Ctrl-C stop after the batch in hand.
    """
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._runner import Runner
    from mailconduit._runner._logs import configure_logging

    configure_logging(json_lines=log_format == "json", verbose=ctx.verbose)
    config = ctx.config()
    with translated_errors("opening the store"):
        store = open_cli_store(ctx)
    try:
        with translated_errors("starting the runner"):
            runner = Runner(
                config,
                store,
                ctx.plugins(),
                pipelines=list(only) or None,
                outbox=not no_outbox,
                health_port=health_port,
            )
            runner.pipelines()  # unknown --pipeline names fail here, before anything starts
        if not once:
            _forever(ctx, runner)
            return
        outcome = runner.run_once()
    finally:
        store.close()
    if as_json:
        data = {
            "pipelines": {name: summary(result) for name, result in outcome.results.items()},
            "errors": outcome.errors,
            "outbox": {"sent": outcome.sent, "failed": outcome.failed},
        }
        click.echo(json.dumps(data, sort_keys=True))
    else:
        for name, result in outcome.results.items():
            click.echo(f"pipeline {name}: {summary_line(result)}")
        for name, error in outcome.errors.items():
            click.echo(f"pipeline {name}: FAILED: {error}", err=True)
        click.echo(f"outbox: sent {outcome.sent}, failed {outcome.failed}")
    if outcome.errors:
        sys.exit(1)
