"""One batch of a replication run, boundary by boundary, in the order DESIGN.md's semantics give.

fetch -> commit the raw bytes and header scan -> transforms, parse, steps -> commit the results and
the pending server changes -> ``after_batch_stored`` -> apply the changes -> mark them done ->
advance the folder state. Each boundary is a named checkpoint (``_crash.Boundary``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from attrs import define, field
from sqlalchemy import select

from mailconduit._model import Account, AfterReplication, MoveTo, ReceiveSettings
from mailconduit._plugins import PluginSet
from mailconduit._protocols import Mailbox, Transform
from mailconduit._replicate._apply import advance_state, apply_pending, commit_results
from mailconduit._replicate._crash import Boundary, checkpoint
from mailconduit._replicate._ingest import ingest
from mailconduit._replicate._process import BatchContext, Step, process_batch
from mailconduit._store import Store
from mailconduit._store._models import MessageRow
from mailconduit._types import MessageRef, RawMail, RunInfo, RunResult, StoredBatch

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["BatchCounts", "RunContext", "run_batch", "safe_hook"]

log = logging.getLogger("mailconduit.replicate")


def safe_hook(name: str, call: Callable[..., None], *args: Any) -> None:
    """Call a lifecycle hook; an exception in it is logged, never raised (BaseException still is)."""
    try:
        call(*args)
    except Exception:
        log.exception("hook %s raised; the run goes on", name)


@define(kw_only=True)
class RunContext:
    """What every batch of one run shares."""

    account: Account
    receive: ReceiveSettings
    folder: str
    store: Store
    plugins: PluginSet
    run: RunInfo
    steps: Sequence[Step]
    on_error: Sequence[Step] = ()
    pipeline: str | None = None
    config: Config | None = None
    transforms: Sequence[Transform] = field(factory=list)
    uidvalidity: int | None = None
    uidvalidity_keys: bool = True
    reconcile: bool = False

    @property
    def after(self) -> AfterReplication | MoveTo:
        """The after-replication action."""
        return self.receive.after_replication


@define
class BatchCounts:
    """What one batch did (summed into the run's result)."""

    fetched: int = 0
    stored: int = 0
    known: int = 0
    failed: int = 0
    moved: int = 0
    deleted: int = 0

    @classmethod
    def of(cls, result: RunResult) -> BatchCounts:
        """The counts of a run's result."""
        return cls(result.fetched, result.stored, result.known, result.failed, result.moved, result.deleted)

    def add(self, other: BatchCounts) -> None:
        """Add ``other``'s counts to these."""
        for name in ("fetched", "stored", "known", "failed", "moved", "deleted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _fetch(mailbox: Mailbox, folder: str, refs: Sequence[MessageRef], number: int) -> list[RawMail]:
    mails: list[RawMail] = []
    for index, mail in enumerate(mailbox.fetch(folder, refs)):
        mails.append(mail)
        checkpoint(Boundary.FETCHED, number, index)
    return mails


def _previous(store: Store, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored annotations of messages seen by an earlier run (which steps they finished)."""
    if not ids:
        return {}
    with store.session(readonly=True) as session:
        rows = session.execute(select(MessageRow.id, MessageRow.annotations).where(MessageRow.id.in_(ids)))
        return {row.id: dict(row.annotations or {}) for row in rows}


def run_batch(ctx: RunContext, mailbox: Mailbox, refs: Sequence[MessageRef], number: int) -> BatchCounts:
    """Replicate one batch of ``refs`` through every boundary; returns its counts."""
    name = ctx.account.name
    mails = _fetch(mailbox, ctx.folder, refs, number)
    with ctx.store.session() as session:
        items = ingest(
            session,
            account=name,
            folder=ctx.folder,
            mails=mails,
            uidvalidity_keys=ctx.uidvalidity_keys,
            reconcile=ctx.reconcile,
        )
    checkpoint(Boundary.RAW_COMMITTED, number)
    context = BatchContext(
        ctx.account, pipeline=ctx.pipeline, config=ctx.config, store=ctx.store, plugins=ctx.plugins
    )
    outcomes = process_batch(
        items,
        account=ctx.account,
        folder=ctx.folder,
        transforms=ctx.transforms,
        steps=ctx.steps,
        batch_number=number,
        max_message_size=ctx.receive.max_message_size,
        on_error=ctx.on_error,
        context=context,
        previous=_previous(ctx.store, [i.id for i in items if not i.created and not i.done]),
    )
    with ctx.store.session() as session:
        commit_results(session, account=name, folder=ctx.folder, outcomes=outcomes, after=ctx.after)
    checkpoint(Boundary.RESULTS_COMMITTED, number)
    accepted = [o.item.id for o in outcomes if o.accepted]
    batch = StoredBatch(
        messages=[o.message for o in outcomes],
        accepted=frozenset(accepted),
        rejected={o.item.id: o.reason for o in outcomes if not o.accepted},
        new=frozenset(o.item.id for o in outcomes if o.item.created),
    )
    safe_hook("after_batch_stored", ctx.plugins.hooks.after_batch_stored, batch, ctx.run)
    applied = apply_pending(
        ctx.store.session,
        mailbox,
        account=name,
        folder=ctx.folder,
        uidvalidity=ctx.uidvalidity,
        message_ids=accepted,
        batch_number=number,
    )
    with ctx.store.session() as session:
        advance_state(session, account=name, folder=ctx.folder, uidvalidity=ctx.uidvalidity)
    checkpoint(Boundary.STATE_ADVANCED, number)
    return BatchCounts(
        fetched=len(mails),
        stored=sum(1 for i in items if i.created),
        known=sum(1 for i in items if not i.created),
        failed=sum(1 for o in outcomes if not o.accepted),
        moved=applied.moved,
        deleted=applied.deleted,
    )
