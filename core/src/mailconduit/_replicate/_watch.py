"""``watch``: replicate, then wait for new mail (IDLE, or polling), and again, until cancelled.

IDLE is a hint, not the source of truth: after every wake-up and every reconnect the run lists what
is new against the store's known keys, so nothing that arrived while waiting or disconnected is
missed. A temporary transport error closes the connection and reconnects after the account's
``reconnect_backoff`` (exponential with jitter); the clock and the sleep are injectable.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mailconduit._errors import TransportError
from mailconduit._model import Account
from mailconduit._plugins import PluginSet
from mailconduit._protocols import Mailbox
from mailconduit._replicate._batch import BatchCounts, RunContext, safe_hook
from mailconduit._replicate._open import open_mailbox, receive_settings
from mailconduit._replicate._run import Mode, StepSpec, new_run, resolve_account, resolve_steps, run_once
from mailconduit._retry import backoff_delay
from mailconduit._store import Store
from mailconduit._types import RunResult

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["watch"]

log = logging.getLogger("mailconduit.replicate")

CANCEL_CHECK = 5.0
"""Longest single IDLE wait: ``cancel`` is looked at (and IDLE re-issued) at least this often."""


def _idle(mailbox: Mailbox, folder: str, refresh: float, stop: threading.Event) -> None:
    """IDLE until new mail, ``refresh`` seconds, or ``stop``; the wait is cut into ``CANCEL_CHECK`` slices."""
    deadline = time.monotonic() + refresh
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0 or mailbox.wait(folder, min(left, CANCEL_CHECK)):
            return


def watch(
    account: Account | str,
    *,
    store: Store,
    plugins: PluginSet,
    config: Config | None = None,
    folder: str | None = None,
    cancel: threading.Event | None = None,
    steps: Sequence[StepSpec] | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    sleep: Callable[[float], object] | None = None,
    rng: random.Random | None = None,
) -> RunResult:
    """Replicate ``account``'s folder whenever new mail may have arrived, until ``cancel`` is set.

    Each run is a full ``replicate`` run over the open connection. Between runs it waits with
    IDLE (a resync run at least every ``idle_refresh``; the IDLE command itself is re-issued every
    ``CANCEL_CHECK`` seconds so that ``cancel`` ends a quiet wait) where the mailbox has ``idle``, else
    sleeps ``poll_every``. Temporary transport errors reconnect after ``reconnect_backoff``;
    permanent ones (authentication, TLS, configuration) are raised. The schedule grows with every
    drop until a connection lasts through a whole wait.

    Args:
        account: the account, or its name in ``config``.
        store: the open store.
        plugins: the loaded plugins.
        config: the configuration ``account`` is looked up in when given by name.
        folder: the folder (default: the account's, else INBOX).
        cancel: set it to stop; checked after every run and every wait.
        steps: the per-message steps, as for ``replicate``.
        on_result: called with every run's result.
        sleep: waits the given seconds (default: waiting on ``cancel``, so setting it ends a sleep).
        rng: the random source of the backoff jitter.

    Returns:
        The totals of every run (``mode`` is ``idle`` or ``polling``, as last used).
    """
    acct = resolve_account(account, config, plugins=plugins, store=store)
    receive = receive_settings(acct)
    where = folder or receive.effective_folder
    stop = cancel or threading.Event()
    pause = sleep or stop.wait
    resolved = resolve_steps(plugins, steps)
    totals = BatchCounts()
    mailbox: Mailbox | None = None
    mode: Mode = "polling"
    failures = 0
    try:
        while not stop.is_set():
            run = new_run(acct, where, mode, stop)
            try:
                if mailbox is None:
                    mailbox = open_mailbox(acct, plugins)
                    mode = "idle" if "idle" in mailbox.capabilities() else "polling"
                    run.mode = mode
                ctx = RunContext(
                    account=acct,
                    receive=receive,
                    folder=where,
                    store=store,
                    plugins=plugins,
                    run=run,
                    steps=resolved,
                )
                result = run_once(ctx, mailbox)
                totals.add(
                    BatchCounts(
                        result.fetched,
                        result.stored,
                        result.known,
                        result.failed,
                        result.moved,
                        result.deleted,
                    )
                )
                if on_result is not None:
                    on_result(result)
                if stop.is_set() or result.remaining:
                    continue
                if mode == "idle":
                    _idle(mailbox, where, receive.idle_refresh.total_seconds(), stop)
                else:
                    pause(receive.poll_every.total_seconds())
                failures = 0  # the connection lasted a whole wait: the next drop starts the schedule afresh
            except TransportError as exc:
                safe_hook("on_run_error", plugins.hooks.on_run_error, exc, run)
                if not exc.temporary:
                    raise
                if mailbox is not None:
                    mailbox.close()
                    mailbox = None
                failures += 1
                delay = backoff_delay(failures, receive.reconnect_backoff, rng).total_seconds()
                log.warning("account %s, folder %s: %s; reconnecting in %.1f s", acct.name, where, exc, delay)
                pause(delay)
            except Exception as exc:
                safe_hook("on_run_error", plugins.hooks.on_run_error, exc, run)
                raise
    finally:
        if mailbox is not None:
            mailbox.close()
    return RunResult(
        fetched=totals.fetched,
        stored=totals.stored,
        known=totals.known,
        failed=totals.failed,
        moved=totals.moved,
        deleted=totals.deleted,
        mode=mode,
    )
