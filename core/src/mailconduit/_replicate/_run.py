"""``replicate``: one replication run of one account's folder, from opening the mailbox to the summary.

Before anything is fetched: the mailbox is checked for what the after-replication action needs, the
store for durable commits (when mail is deleted or moved), and on PostgreSQL the (account, folder)
lock is taken. Then the UIDVALIDITY is compared with the store's, changes a crashed run left
pending are finished, and the plan's batches run (``_batch``). ``after_run_completed`` is called
once per finished run and ``on_run_error`` when it fails; errors inside hooks are logged only.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from attrs import define
from sqlalchemy import exists, select

from mailconduit._model import Account
from mailconduit._plugins import PluginSet
from mailconduit._protocols import Action, Mailbox
from mailconduit._replicate import _plan
from mailconduit._replicate._apply import advance_state, apply_pending
from mailconduit._replicate._batch import BatchCounts, RunContext, run_batch, safe_hook
from mailconduit._replicate._lock import folder_lock
from mailconduit._replicate._open import check_mailbox, open_mailbox, receive_settings
from mailconduit._replicate._plan import Validity, batches, check_validity, oldest_first, plan_run, run_size
from mailconduit._replicate._process import Step
from mailconduit._store import Store
from mailconduit._store._models import Direction, FolderSync, KnownKey, LogLevel, MessageRow
from mailconduit._store._repo_log import add_log
from mailconduit._types import Direction as TransformDirection
from mailconduit._types import RunInfo, RunResult

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = [
    "AlreadyRunning",
    "StepSpec",
    "begin_run",
    "load_known",
    "new_run",
    "replicate",
    "resolve_account",
    "resolve_steps",
    "run_once",
]

StepSpec = str | Action | tuple[str, object]
"""A step: a registered action's name, ``(name, settings)``, or an ``Action`` callable."""

Progress = Callable[[int, int], None]
Mode = Literal["once", "idle", "polling"]


@define(frozen=True, kw_only=True)
class AlreadyRunning(RunResult):
    """The result of a run that did nothing because another replicator holds the folder (PostgreSQL).

    Attributes:
        reason: which account and folder are already being replicated.
    """

    reason: str


def resolve_account(
    account: Account | str,
    config: Config | None,
    *,
    plugins: PluginSet | None = None,
    store: Store | None = None,
) -> Account:
    """The ``Account`` itself, or the one ``config`` names (LookupError lists the configured ones).

    With ``plugins`` and ``store`` it also gives the plugins an auth context over the store (the
    token caches of OAuth authenticators), unless they have one.
    """
    if plugins is not None and store is not None:
        from mailconduit._auth_context import StoreAuthContext

        plugins.attach_auth_context(StoreAuthContext.for_config(store, config))
    if isinstance(account, Account):
        return account
    if config is None:
        raise LookupError(f"account {account!r} given by name, but no config to look it up in; pass config=")
    return config.account(account)


def resolve_steps(plugins: PluginSet, steps: Sequence[StepSpec] | None) -> list[Step]:
    """Build the per-message steps; the default is the built-in ``store`` step."""
    out: list[Step] = []
    for spec in ("store",) if steps is None else steps:
        if isinstance(spec, str):
            out.append(Step(spec, plugins.action(spec)))
        elif isinstance(spec, tuple):
            out.append(Step(spec[0], plugins.action(spec[0], spec[1])))
        else:
            out.append(Step(getattr(spec, "__name__", type(spec).__name__), spec))
    return out


def begin_run(ctx: RunContext, *, write: bool) -> Validity:
    """Compare UIDVALIDITY with the store's; on a change record one warning and the new value."""
    name, folder = ctx.account.name, ctx.folder
    with ctx.store.session(readonly=not write) as session:
        state = session.get(FolderSync, (name, folder))
        validity = check_validity(
            state.uidvalidity if state else None, ctx.uidvalidity, seen_before=state is not None
        )
        if write and validity is Validity.CHANGED and state is not None:
            add_log(
                session,
                LogLevel.WARNING,
                f"folder {folder!r}: UIDVALIDITY changed from {state.uidvalidity} to {ctx.uidvalidity}; "
                "stored messages are matched by content hash and Message-ID, not fetched as new",
                account=name,
            )
            state.uidvalidity, state.last_uid = ctx.uidvalidity, 0
        elif write and state is None:
            session.add(FolderSync(account=name, folder=folder, uidvalidity=ctx.uidvalidity, last_uid=0))
        stale = MessageRow.uidvalidity != ctx.uidvalidity
        ctx.reconcile = ctx.uidvalidity_keys and bool(
            session.scalar(
                select(
                    exists().where(
                        MessageRow.account == name,
                        MessageRow.direction == Direction.INCOMING,
                        MessageRow.folder == folder,
                        stale,
                    )
                )
            )
        )
    return validity


def load_known(ctx: RunContext) -> set[str]:
    """The keys of the folder, under its current UIDVALIDITY, that replication is finished with."""
    same = (
        KnownKey.uidvalidity == ctx.uidvalidity
        if ctx.uidvalidity is not None
        else KnownKey.uidvalidity.is_(None)
    )
    with ctx.store.session(readonly=True) as session:
        query = select(KnownKey.key).where(
            KnownKey.account == ctx.account.name, KnownKey.folder == ctx.folder, same
        )
        return set(session.scalars(query))


def run_once(
    ctx: RunContext,
    mailbox: Mailbox,
    *,
    limit: int | None = None,
    everything: bool | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """One run over an open mailbox: checks, lock, pending changes, then the planned batches."""
    started = time.monotonic()
    caps = check_mailbox(mailbox, ctx.account, ctx.folder)
    for step in (*ctx.steps, *ctx.on_error):  # server-changing steps (move, flag) check the mailbox too
        check = getattr(step.action, "check_mailbox", None)
        if callable(check):
            check(mailbox, caps, account=ctx.account, folder=ctx.folder, pipeline=ctx.pipeline)
    if ctx.receive.after_replication != "none" and not dry_run:
        ctx.store.check_durability()
    with folder_lock(ctx.store, ctx.account.name, ctx.folder) as locked:
        if not locked:
            return AlreadyRunning(
                mode=ctx.run.mode,
                reason=f"account {ctx.account.name!r}, folder {ctx.folder!r} is already being replicated "
                "by another process; this run did nothing",
            )
        ctx.uidvalidity_keys = "uidvalidity" in caps
        ctx.uidvalidity = mailbox.state(ctx.folder).uidvalidity if ctx.uidvalidity_keys else None
        begin_run(ctx, write=not dry_run)
        counts = BatchCounts()
        if not dry_run:
            ctx.transforms = ctx.plugins.hooks.message_transforms(
                ctx.account, direction=TransformDirection.INCOMING
            )
            first = apply_pending(
                ctx.store.session,
                mailbox,
                account=ctx.account.name,
                folder=ctx.folder,
                uidvalidity=ctx.uidvalidity,
            )
            counts.moved, counts.deleted = first.moved, first.deleted
            with ctx.store.session() as session:
                advance_state(
                    session, account=ctx.account.name, folder=ctx.folder, uidvalidity=ctx.uidvalidity
                )
        new = mailbox.list_new(ctx.folder, load_known(ctx), oldest_first(ctx.receive.fetch_strategy), None)
        plan = plan_run(new, run_size(ctx.receive, limit=limit, everything=everything))
        remaining = plan.remaining
        if dry_run:
            return RunResult(remaining=len(new), mode=ctx.run.mode, duration=_since(started))
        parts = batches(plan.selected, size=_plan.BATCH_SIZE)
        total = len(plan.selected)
        for number, refs in enumerate(parts):
            if ctx.run.cancel.is_set():
                remaining += sum(len(p) for p in parts[number:])
                break
            upcoming = parts[number + 1] if number + 1 < len(parts) else None
            counts.add(run_batch(ctx, mailbox, refs, number, upcoming=upcoming))
            if progress is not None:
                progress(min(total, sum(len(p) for p in parts[: number + 1])), total)
    result = RunResult(
        fetched=counts.fetched,
        stored=counts.stored,
        known=counts.known,
        failed=counts.failed,
        moved=counts.moved,
        deleted=counts.deleted,
        remaining=remaining,
        duration=_since(started),
        mode=ctx.run.mode,
    )
    safe_hook("after_run_completed", ctx.plugins.hooks.after_run_completed, result, ctx.run)
    return result


def _since(started: float) -> timedelta:
    return timedelta(seconds=time.monotonic() - started)


def new_run(account: Account, folder: str, mode: Mode, cancel: threading.Event | None) -> RunInfo:
    """A ``RunInfo`` for a run starting now."""
    assert account.receive is not None
    return RunInfo(
        run_id=uuid.uuid4().hex,
        account=account.name,
        folder=folder,
        protocol=account.receive.protocol,
        started_at=datetime.now(UTC),
        mode=mode,
        cancel=cancel or threading.Event(),
    )


def replicate(
    account: Account | str,
    *,
    store: Store,
    plugins: PluginSet,
    config: Config | None = None,
    folder: str | None = None,
    limit: int | None = None,
    everything: bool | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    steps: Sequence[StepSpec] | None = None,
    on_error: Sequence[StepSpec] = (),
    pipeline: str | None = None,
) -> RunResult:
    """Replicate one account's folder into the store once, and apply the after-replication action.

    Args:
        account: the account, or its name in ``config``.
        store: the open store.
        plugins: the loaded plugins (transports, authenticators, actions, hooks).
        config: the configuration ``account`` is looked up in when given by name.
        folder: the folder to replicate (default: the account's, else INBOX).
        limit: take at most this many new messages (default: the account's ``messages_per_run``).
        everything: take every new message, in batches (default: ``replicate_everything``).
        dry_run: only report how many new messages there are; fetch, store and change nothing.
        progress: called as ``progress(done, total)`` after every batch.
        cancel: set it to stop after the batch in hand.
        steps: the per-message steps (default: ``["store"]``): action names, ``(name, settings)``
            pairs or ``Action`` callables. A step that raises or rejects leaves its message on the
            server, marked with the reason, and it is retried next run; the steps it finished
            are remembered and not run again for it.
        on_error: steps run for each message the steps did not accept (their own failures are
            logged only).
        pipeline: the name of the pipeline running this (what ``ActionContext.pipeline`` says).

    Returns:
        The summary (fetched, stored, known, failed, moved, deleted, remaining), or an
        :class:`AlreadyRunning` result when another replicator holds the folder (PostgreSQL).

    Raises:
        ConfigError: the account cannot be replicated as configured (no receive section; delete or
            move the server cannot do; a missing move target) -- raised before anything is fetched.
        TransportError: talking to the server failed; what was committed is kept.
    """
    acct = resolve_account(account, config, plugins=plugins, store=store)
    receive = receive_settings(acct)
    where = folder or receive.effective_folder
    run = new_run(acct, where, "once", cancel)
    try:
        ctx = RunContext(
            account=acct,
            receive=receive,
            folder=where,
            store=store,
            plugins=plugins,
            run=run,
            steps=resolve_steps(plugins, steps),
            on_error=resolve_steps(plugins, on_error),
            pipeline=pipeline,
            config=config,
        )
        mailbox = open_mailbox(acct, plugins)
        try:
            return run_once(
                ctx, mailbox, limit=limit, everything=everything, dry_run=dry_run, progress=progress
            )
        finally:
            mailbox.close()
    except Exception as exc:
        safe_hook("on_run_error", plugins.hooks.on_run_error, exc, run)
        raise
