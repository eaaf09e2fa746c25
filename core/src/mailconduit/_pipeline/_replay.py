"""``replay``: run a pipeline's steps again on a message already in the store.

The message's raw bytes are read from the store (the server is not asked), its incoming transforms
and steps run again (every step, including those that finished before), and what they record,
log and queue is committed as in a run. A message no run finished yet and that every step now
accepts becomes finished: its known key and the pipeline's server change are recorded, and the
next run of the pipeline applies that change.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from attrs import frozen
from sqlalchemy import exists, select

from mailconduit._mime import scan_headers
from mailconduit._outbox._wake import queued
from mailconduit._pipeline._build import Pipeline, pipeline_named, pipelines_of
from mailconduit._plugins import PluginSet
from mailconduit._replicate._apply import commit_results
from mailconduit._replicate._ingest import Ingested
from mailconduit._replicate._plan import format_key, parse_key
from mailconduit._replicate._process import BatchContext, process_batch
from mailconduit._replicate._run import resolve_steps
from mailconduit._store import Store
from mailconduit._store._models import Direction, KnownKey, MessageRow
from mailconduit._store._repo_messages import raw_bytes
from mailconduit._types import Direction as TransformDirection
from mailconduit._types import MessageRef

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["ReplayResult", "replay"]


@frozen(kw_only=True)
class ReplayResult:
    """What a replay did.

    Attributes:
        message_id: the stored message.
        pipeline: the pipeline whose steps ran.
        accepted: every step accepted it.
        reason: why not, when a step failed or rejected it.
        queued: outgoing messages the steps queued.
        finished: it was not finished before and is now (its server change is recorded).
    """

    message_id: int
    pipeline: str
    accepted: bool
    reason: str = ""
    queued: int = 0
    finished: bool = False


def _choose(config: Config, row: MessageRow, name: str | None) -> Pipeline:
    if name is not None:
        chosen = pipeline_named(config, name)
        if chosen.account.name != row.account:
            raise LookupError(
                f"message {row.id} was received for account {row.account!r}; pipeline {name!r} "
                f"receives for {chosen.account.name!r}"
            )
        return chosen
    matches = [p for p in pipelines_of(config) if p.account.name == row.account and p.folder == row.folder]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LookupError(
            f"no pipeline replicates account {row.account!r}, folder {row.folder!r} "
            f"(message {row.id}); name one with --pipeline"
        )
    names = ", ".join(p.name for p in matches)
    raise LookupError(
        f"several pipelines replicate message {row.id}'s folder ({names}); name one with --pipeline"
    )


def _load(store: Store, message_id: int) -> tuple[MessageRow, bytes, bool]:
    with store.session(readonly=True) as session:
        row = session.get(MessageRow, message_id)
        if row is None or row.direction != Direction.INCOMING:
            what = "an outgoing message" if row is not None else "not in the store"
            raise LookupError(f"message {message_id} is {what}; replay runs on received messages")
        raw = raw_bytes(session, message_id)
        known = bool(session.scalar(select(exists().where(KnownKey.message_id == message_id))))
        session.expunge(row)
    if raw is None:
        raise LookupError(f"message {message_id} has no raw bytes in the store")
    return row, raw, known


def replay(
    message_id: int,
    *,
    store: Store,
    plugins: PluginSet,
    config: Config,
    pipeline: str | None = None,
) -> ReplayResult:
    """Run the steps of ``pipeline`` (default: the one replicating the message's folder) again.

    Raises:
        LookupError: no such received message, no such pipeline, or no single pipeline for it.
    """
    row, raw, known = _load(store, message_id)
    chosen = _choose(config, row, pipeline)
    key = format_key(row.uidvalidity, row.uid, row.uidl)
    item = Ingested(
        id=row.id,
        ref=MessageRef(key),
        key=parse_key(key, uidvalidity_keys=row.uidl is None and row.uidvalidity is not None),
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        scan=scan_headers(raw),
        defects=list(row.defects or []),
    )
    folder = row.folder or chosen.folder
    context = BatchContext(chosen.account, pipeline=chosen.name, config=config, store=store, plugins=plugins)
    outcomes = process_batch(
        [item],
        account=chosen.account,
        folder=folder,
        transforms=plugins.hooks.message_transforms(chosen.account, direction=TransformDirection.INCOMING),
        steps=resolve_steps(plugins, chosen.steps),
        batch_number=0,
        max_message_size=chosen.receive.max_message_size,
        on_error=resolve_steps(plugins, chosen.on_error),
        context=context,
        previous={row.id: dict(row.annotations or {})},
        rerun=True,
    )
    with store.session() as session:
        commit_results(
            session,
            account=row.account,
            folder=folder,
            outcomes=outcomes,
            after=chosen.receive.after_replication,
            already_known={row.id} if known else (),
        )
    outcome = outcomes[0]
    if outcome.queued:
        queued()
    return ReplayResult(
        message_id=row.id,
        pipeline=chosen.name,
        accepted=outcome.accepted,
        reason=outcome.reason,
        queued=len(outcome.queued),
        finished=outcome.accepted and not known,
    )
