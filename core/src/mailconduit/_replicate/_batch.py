"""One batch of a replication run, boundary by boundary, in the order DESIGN.md's semantics give.

fetch -> commit the raw bytes and header scan -> transforms, parse, steps -> commit the results and
the pending server changes -> ``after_batch_stored`` -> apply the changes -> mark them done ->
advance the folder state. Each boundary is a named checkpoint (``_crash.Boundary``). A batch that
leaves nothing to change on the server (``after_replication: none`` and no step asked for a flag
or a move) advances the folder state in its results commit: one transaction (and sync) fewer.

When replicated mail stays on the server (``after_replication: none``, the default), the next
batch is fetched ahead (``BODY.PEEK``: reading changes nothing on the server) in a thread while
this one is committed and processed, and its SHA-256 digests are taken there (``hashlib``
releases the GIL), so the wire and the store overlap (PERFORMANCE.md). The thread is joined
before this batch's server changes (flags or moves its steps asked for) are applied, so the
mailbox is never used by two threads at once. A failure of the fetch ahead is raised where the
next batch begins; when it failed, the connection is gone, so it is raised before this batch's
changes instead, which stay pending and are made at the start of the next run, like those of a
crashed run. With delete or move, batches run strictly one after the other: the server changes
of each are made before the next is fetched.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from attrs import define, field
from sqlalchemy import select

from mailconduit._model import Account, AfterReplication, MoveTo, ReceiveSettings
from mailconduit._outbox._wake import queued
from mailconduit._plugins import PluginSet
from mailconduit._protocols import Mailbox, Transform
from mailconduit._replicate._apply import Applied, advance_state, apply_pending, commit_results
from mailconduit._replicate._crash import Boundary, checkpoint
from mailconduit._replicate._gc_pause import paused
from mailconduit._replicate._ingest import ingest
from mailconduit._replicate._process import BatchContext, Step, process_batch
from mailconduit._store import Store
from mailconduit._store._models import MessageRow
from mailconduit._types import MessageRef, RawMail, RunInfo, RunResult, StoredBatch

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["BatchCounts", "Prefetch", "RunContext", "run_batch", "safe_hook"]

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
    ahead: Prefetch | None = None

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


Fetched = tuple[list[RawMail], list[str]]
"""A fetched batch: the messages and the hex SHA-256 of each."""


def _fetch(mailbox: Mailbox, folder: str, refs: Sequence[MessageRef], number: int) -> Fetched:
    """Fetch ``refs`` and take each message's SHA-256 (``hashlib`` lets the other thread run)."""
    mails: list[RawMail] = []
    digests: list[str] = []
    for index, mail in enumerate(mailbox.fetch(folder, refs)):
        mails.append(mail)
        digests.append(hashlib.sha256(mail.data).hexdigest())
        checkpoint(Boundary.FETCHED, number, index)
    return mails, digests


class Prefetch:
    """Fetches batch ``number`` in a thread of its own (with the caller's context: crash points)."""

    def __init__(self, mailbox: Mailbox, folder: str, refs: Sequence[MessageRef], number: int) -> None:
        self.refs = [ref.key for ref in refs]
        self.number = number
        self._result: Fetched | None = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run,
            args=(self._work, mailbox, folder, refs, number),
            name=f"mailconduit-fetch-{folder}",
            daemon=True,
        )
        self._thread.start()

    def _work(self, mailbox: Mailbox, folder: str, refs: Sequence[MessageRef], number: int) -> None:
        try:
            self._result = _fetch(mailbox, folder, refs, number)
        except BaseException as exc:  # raised in the caller's thread by result()
            self._error = exc

    def join(self) -> None:
        """Wait until the fetch is over (the mailbox is free again)."""
        self._thread.join()

    @property
    def failed(self) -> bool:
        """The fetch is over and raised."""
        return not self._thread.is_alive() and self._error is not None

    def result(self) -> Fetched:
        """The fetched batch; whatever the fetch raised is raised here."""
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        assert self._result is not None
        return self._result


def _take(ctx: RunContext, mailbox: Mailbox, refs: Sequence[MessageRef], number: int) -> Fetched:
    """This batch, as fetched ahead when it was, else fetched now."""
    ahead, ctx.ahead = ctx.ahead, None
    if ahead is not None and ahead.number == number and ahead.refs == [ref.key for ref in refs]:
        return ahead.result()
    if ahead is not None:
        ahead.join()
    return _fetch(mailbox, ctx.folder, refs, number)


def _previous(store: Store, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored annotations of messages seen by an earlier run (which steps they finished)."""
    if not ids:
        return {}
    with store.session(readonly=True) as session:
        rows = session.execute(select(MessageRow.id, MessageRow.annotations).where(MessageRow.id.in_(ids)))
        return {row.id: dict(row.annotations or {}) for row in rows}


def run_batch(
    ctx: RunContext,
    mailbox: Mailbox,
    refs: Sequence[MessageRef],
    number: int,
    *,
    upcoming: Sequence[MessageRef] | None = None,
) -> BatchCounts:
    """Replicate one batch of ``refs`` through every boundary; returns its counts.

    With ``upcoming`` (the next batch's refs), that batch is fetched in a thread meanwhile and the
    next call with those refs takes it from ``ctx``. The cyclic garbage collector is paused for the
    batch (``_gc_pause``).
    """
    with paused():
        return _run_batch(ctx, mailbox, refs, number, upcoming=upcoming)


def _run_batch(
    ctx: RunContext,
    mailbox: Mailbox,
    refs: Sequence[MessageRef],
    number: int,
    *,
    upcoming: Sequence[MessageRef] | None,
) -> BatchCounts:
    mails, digests = _take(ctx, mailbox, refs, number)
    if upcoming and ctx.after == AfterReplication.NONE:
        ctx.ahead = Prefetch(mailbox, ctx.folder, upcoming, number + 1)
    try:
        counts = _store_batch(ctx, mailbox, mails, digests, number)
    except BaseException:
        if ctx.ahead is not None:  # the caller closes the mailbox next: let the fetch end first
            ctx.ahead.join()
            ctx.ahead = None
        raise
    return counts


def _store_batch(
    ctx: RunContext, mailbox: Mailbox, mails: list[RawMail], digests: list[str], number: int
) -> BatchCounts:
    name = ctx.account.name
    with ctx.store.session() as session:
        items = ingest(
            session,
            account=name,
            folder=ctx.folder,
            mails=mails,
            uidvalidity_keys=ctx.uidvalidity_keys,
            reconcile=ctx.reconcile,
            digests=digests,
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
        changes = commit_results(session, account=name, folder=ctx.folder, outcomes=outcomes, after=ctx.after)
        if not changes:  # nothing to change on the server: the folder state goes with the results
            advance_state(session, account=name, folder=ctx.folder, uidvalidity=ctx.uidvalidity)
    checkpoint(Boundary.RESULTS_COMMITTED, number)
    if any(o.queued for o in outcomes):
        queued()  # replies and forwards are due now: wake this process's outbox worker
    accepted = [o.item.id for o in outcomes if o.accepted]
    batch = StoredBatch(
        messages=[o.message for o in outcomes],
        accepted=frozenset(accepted),
        rejected={o.item.id: o.reason for o in outcomes if not o.accepted},
        new=frozenset(o.item.id for o in outcomes if o.item.created),
    )
    safe_hook("after_batch_stored", ctx.plugins.hooks.after_batch_stored, batch, ctx.run)
    applied = Applied()
    if changes:
        ahead = ctx.ahead
        if ahead is not None:  # the server changes need the mailbox to themselves
            ahead.join()
            if ahead.failed:  # the connection is gone: the changes wait for the next run
                ctx.ahead = None
                ahead.result()
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
