"""``mailconduit replay MESSAGE_ID [--pipeline P]``: run a pipeline's steps again on a stored message."""

from __future__ import annotations

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json
from mailconduit._cli._receive_access import translated_errors

__all__ = ["replay"]


@click.command()
@click.argument("message_id", type=int)
@click.option(
    "--pipeline",
    "pipeline",
    metavar="P",
    help="The pipeline whose steps to run (default: the one replicating the message's folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def replay(ctx: CliContext, message_id: int, pipeline: str | None, as_json: bool) -> None:
    """Run the steps of a pipeline again on stored message MESSAGE_ID (the server is not asked).

    Every step runs, including those that finished before: a webhook posts again, a reply is queued
    again. What the steps record, log and queue is committed as in a run; a message no run had
    finished that every step now accepts becomes finished, and the pipeline's next run applies its
    server change. Exits 1 when the message or the pipeline is not found, and 2 when a step did not
    accept the message (the reason is printed).
    """
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._pipeline import replay as replay_message

    config = ctx.config()
    with translated_errors(f"replay of message {message_id}"):
        store = open_cli_store(ctx)
        try:
            result = replay_message(
                message_id, store=store, plugins=ctx.plugins(), config=config, pipeline=pipeline
            )
        finally:
            store.close()
    if as_json:
        emit_json(
            {
                "message_id": result.message_id,
                "pipeline": result.pipeline,
                "accepted": result.accepted,
                "reason": result.reason,
                "queued": result.queued,
                "finished": result.finished,
            }
        )
    elif result.accepted:
        finished = "; it is now finished" if result.finished else ""
        click.echo(
            f"message {result.message_id}: every step of pipeline {result.pipeline!r} accepted it "
            f"({result.queued} message(s) queued){finished}"
        )
    else:
        click.echo(f"message {result.message_id}: pipeline {result.pipeline!r}: {result.reason}", err=True)
    if not result.accepted:
        ctx_exit = click.get_current_context()
        ctx_exit.exit(2)
