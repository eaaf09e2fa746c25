"""``watch``: replicate, then wait for new mail (IDLE, or polling), and again, until cancelled.

IDLE is a hint, not the source of truth: after every wake-up and every reconnect the run lists what
is new against the store's known keys, so nothing that arrived while waiting or disconnected is
missed. A temporary transport error closes the connection and reconnects after the account's
``reconnect_backoff`` (exponential with jitter); the clock and the sleep are injectable.

A bearer token cannot be renewed inside an IMAP session (there is no second AUTHENTICATE), so a
wait ends ``TOKEN_MARGIN`` before the token lapses; the connection is closed, opened again with a
fresh token, and the resync run picks up whatever arrived in between. When another replicator holds
the folder (PostgreSQL), the watch holds no connection and tries again after one interval.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from attrs import define, evolve

from mailconduit._errors import TransportError
from mailconduit._model import Account
from mailconduit._plugins import PluginSet
from mailconduit._protocols import Mailbox
from mailconduit._replicate._batch import BatchCounts, RunContext, safe_hook
from mailconduit._replicate._open import open_with_credentials, receive_settings
from mailconduit._replicate._run import (
    AlreadyRunning,
    Mode,
    StepSpec,
    new_run,
    resolve_account,
    resolve_steps,
    run_once,
)
from mailconduit._retry import backoff_delay
from mailconduit._store import Store
from mailconduit._types import Credentials, RunResult

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["CANCEL_CHECK", "TOKEN_MARGIN", "watch"]

log = logging.getLogger("mailconduit.replicate")

CANCEL_CHECK = 5.0
"""Longest single IDLE wait: ``cancel`` is looked at (and IDLE re-issued) at least this often."""

TOKEN_MARGIN = timedelta(minutes=5)
"""A wait ends this long before the session's bearer token lapses, to log in again with a new one."""


def _idle(mailbox: Mailbox, folder: str, seconds: float, stop: threading.Event) -> None:
    """IDLE until new mail, ``seconds``, or ``stop``; the wait is cut into ``CANCEL_CHECK`` slices."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0 or mailbox.wait(folder, min(left, CANCEL_CHECK)):
            return


def _until_relogin(credentials: Credentials | None, margin: timedelta) -> float | None:
    """Seconds until the session must log in again for a fresh token (None: never)."""
    if credentials is None or credentials.expires_at is None:
        return None
    return max(0.0, (credentials.expires_at - margin - datetime.now(UTC)).total_seconds())


@define
class _Connection:
    """The watch's open mailbox and the credentials it logged in with."""

    mailbox: Mailbox | None = None
    credentials: Credentials | None = None
    mode: Mode = "polling"

    def open(
        self,
        account: Account,
        plugins: PluginSet,
        *,
        subscribe: bool | None,
        on_login: Callable[[Credentials | None], None] | None,
    ) -> Mode:
        """Connect and log in; returns the mode the connection allows (IDLE where asked and offered)."""
        self.mailbox, self.credentials = open_with_credentials(account, plugins)
        if on_login is not None:
            on_login(self.credentials)
        idle = subscribe is not False and "idle" in self.mailbox.capabilities()
        self.mode = "idle" if idle else "polling"
        return self.mode

    def close(self) -> None:
        if self.mailbox is not None:
            self.mailbox.close()
        self.mailbox, self.credentials = None, None


def watch(
    account: Account | str,
    *,
    store: Store,
    plugins: PluginSet,
    config: Config | None = None,
    folder: str | None = None,
    cancel: threading.Event | None = None,
    steps: Sequence[StepSpec] | None = None,
    on_error: Sequence[StepSpec] = (),
    pipeline: str | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    on_failure: Callable[[BaseException], None] | None = None,
    on_login: Callable[[Credentials | None], None] | None = None,
    subscribe: bool | None = None,
    sleep: Callable[[float], object] | None = None,
    rng: random.Random | None = None,
    token_margin: timedelta = TOKEN_MARGIN,
) -> RunResult:
    """Replicate ``account``'s folder whenever new mail may have arrived, until ``cancel`` is set.

    Each run is a full ``replicate`` run over the open connection. Between runs it waits with
    IDLE (a resync run at least every ``idle_refresh``; the IDLE command itself is re-issued every
    ``CANCEL_CHECK`` seconds so that ``cancel`` ends a quiet wait) where the mailbox has ``idle``, else
    sleeps ``poll_every``. Temporary transport errors reconnect after ``reconnect_backoff``;
    permanent ones (authentication, TLS, configuration) are raised. The schedule grows with every
    drop until a connection lasts through a whole wait. A session whose bearer token is about to
    lapse is closed and opened again with a fresh token, then resynced.

    Args:
        account: the account, or its name in ``config``.
        store: the open store.
        plugins: the loaded plugins.
        config: the configuration ``account`` is looked up in when given by name.
        folder: the folder (default: the account's, else INBOX).
        cancel: set it to stop; checked after every run and every wait.
        steps: the per-message steps, as for ``replicate``.
        on_error: steps run for a message the steps did not accept, as for ``replicate``.
        pipeline: the pipeline's name, as for ``replicate``.
        on_result: called with every run's result.
        on_failure: called with every error the watch survives (it reconnects after it).
        on_login: called with the credentials of every new connection (token expiry for status).
        subscribe: False polls even where IDLE exists; None or True use IDLE where the server has it.
        sleep: waits the given seconds (default: waiting on ``cancel``, so setting it ends a sleep).
        rng: the random source of the backoff jitter.
        token_margin: how long before a bearer token lapses the session logs in again.

    Returns:
        The totals of every run (``mode`` is ``idle`` or ``polling``, as last used).
    """
    acct = resolve_account(account, config, plugins=plugins, store=store)
    receive = receive_settings(acct)
    where = folder or receive.effective_folder
    stop = cancel or threading.Event()
    pause = sleep or stop.wait
    template = RunContext(
        account=acct,
        receive=receive,
        folder=where,
        store=store,
        plugins=plugins,
        run=new_run(acct, where, "polling", stop),
        steps=resolve_steps(plugins, steps),
        on_error=resolve_steps(plugins, on_error),
        pipeline=pipeline,
        config=config,
    )
    totals = BatchCounts()
    conn = _Connection()
    failures = 0
    try:
        while not stop.is_set():
            run = new_run(acct, where, conn.mode, stop)
            try:
                if conn.mailbox is None:
                    run.mode = conn.open(acct, plugins, subscribe=subscribe, on_login=on_login)
                assert conn.mailbox is not None
                result = run_once(evolve(template, run=run), conn.mailbox)
                totals.add(BatchCounts.of(result))
                if on_result is not None:
                    on_result(result)
                if isinstance(result, AlreadyRunning):
                    conn.close()  # hold nothing while another replicator has the folder
                    pause(_interval(receive, conn.mode))
                    continue
                if stop.is_set() or result.remaining:
                    continue
                _wait(conn, where, receive=receive, stop=stop, pause=pause, margin=token_margin)
                failures = 0  # the connection lasted a whole wait: the next drop starts the schedule afresh
            except TransportError as exc:
                safe_hook("on_run_error", plugins.hooks.on_run_error, exc, run)
                if on_failure is not None:
                    on_failure(exc)
                if not exc.temporary:
                    raise
                conn.close()
                failures += 1
                delay = backoff_delay(failures, receive.reconnect_backoff, rng).total_seconds()
                log.warning("account %s, folder %s: %s; reconnecting in %.1f s", acct.name, where, exc, delay)
                pause(delay)
            except Exception as exc:
                safe_hook("on_run_error", plugins.hooks.on_run_error, exc, run)
                if on_failure is not None:
                    on_failure(exc)
                raise
    finally:
        conn.close()
    return RunResult(
        fetched=totals.fetched,
        stored=totals.stored,
        known=totals.known,
        failed=totals.failed,
        moved=totals.moved,
        deleted=totals.deleted,
        mode=conn.mode,
    )


def _interval(receive: object, mode: Mode) -> float:
    refresh: timedelta = getattr(receive, "idle_refresh" if mode == "idle" else "poll_every")
    return refresh.total_seconds()


def _wait(
    conn: _Connection,
    folder: str,
    *,
    receive: object,
    stop: threading.Event,
    pause: Callable[[float], object],
    margin: timedelta,
) -> None:
    """Wait for the next run: IDLE or a sleep, ended early when the token must be renewed.

    Polling with an interval longer than the account's ``keepalive`` closes the connection for the
    sleep; the next run connects again.
    """
    seconds = _interval(receive, conn.mode)
    relogin = _until_relogin(conn.credentials, margin)
    if relogin is not None and relogin < seconds:
        seconds = relogin
    if conn.mode == "idle" and conn.mailbox is not None:
        _idle(conn.mailbox, folder, seconds, stop)
    else:
        keepalive: timedelta = getattr(receive, "keepalive", timedelta(minutes=5))
        if seconds > keepalive.total_seconds():
            # a connection silent for longer than the keepalive may be dropped by the server's idle
            # logout or a NAT on the way, and the next poll would fail first: log out, poll afresh
            conn.close()
        pause(seconds)
    if relogin is not None and _until_relogin(conn.credentials, margin) == 0.0:
        log.info("the session's token lapses within %s: logging in again with a fresh one", margin)
        conn.close()
