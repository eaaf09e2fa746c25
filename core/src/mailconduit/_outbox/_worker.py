"""The drain loop: claim groups, send them over reused sessions, hand outcomes to one group commit.

Per account up to ``send.max_sessions`` session threads run at a time in this process; each holds
one session, claims a group of at most ``batch_size`` (default 100) due messages of its account (in
the recorder's next transaction, see below) and sends them one by one over that session (after the
rate limiter admits each). Each outcome goes to
the worker's one :class:`~mailconduit._outbox._recorder.Recorder`, which writes everything waiting
from all session threads in one transaction (group commit) with a few set-based statements, and
runs the claims session threads asked for in the same transaction. Before
each send a session thread waits until fewer than ``mark_batch`` (default 4) of its outcomes are
not yet durable. Claims are leased and renewed while a group is being worked on; a stopping worker
puts what it has not attempted back, and a group ends only when all its outcomes are durable.

Duplicate bound (RELIABILITY.md C3): a message is sent again only when a worker stopped between
the server's 250 and the commit that marks it sent, or a connection was lost after the final dot
before the reply (counted as *ambiguous*). At any moment a session has at most ``mark_batch``
messages the server accepted that are not yet marked sent (the one just sent included), so one
kill duplicates at most ``mark_batch * max_sessions`` messages per account the worker was sending
for (with the defaults, 4 per session: 4 x ``max_sessions``). ``mark_batch=1`` gives the smallest
window (one message per session) at the price of a commit wait per message. Nothing is lost: an
unmarked claim expires after the lease and another worker sends it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta

from attrs import define, field

from mailconduit._model import Account
from mailconduit._outbox import _repo
from mailconduit._outbox._attempt import SessionSlot, attempt, decide
from mailconduit._outbox._claim import Claimed, claim, read_claimed, renew
from mailconduit._outbox._ratelimit import RateLimiter
from mailconduit._outbox._record import Done
from mailconduit._outbox._recorder import Recorder
from mailconduit._outbox._report import Outcome, StatsCollector
from mailconduit._outbox._wake import sleep_until_queued
from mailconduit._plugins import PluginSet
from mailconduit._store._store import Store

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_MARK_BATCH", "Worker", "WorkerSettings"]

DEFAULT_BATCH_SIZE = 100
"""Messages a session thread claims at a time."""
DEFAULT_MARK_BATCH = 4
"""Outcomes a session may have not yet durable; one kill duplicates at most this many per session."""

log = logging.getLogger("mailconduit.outbox")


@define(frozen=True, kw_only=True)
class WorkerSettings:
    """How a worker claims and records.

    Attributes:
        lease: how long a claim holds without renewal (renewed at half-time while sending).
        batch_size: messages a session thread claims at a time.
        mark_batch: how many of a session's outcomes may be not yet durable when it sends the
            next message; the duplicate window of a crash is this many messages per session.
        poll_interval: how often a long-running worker looks for due messages.
    """

    lease: timedelta = timedelta(minutes=5)
    batch_size: int = field(default=DEFAULT_BATCH_SIZE)
    mark_batch: int = field(default=DEFAULT_MARK_BATCH)
    poll_interval: timedelta = timedelta(seconds=5)


class Worker:
    """Sends due messages of the configured accounts; shared by ``Outbox.run`` and ``Outbox.send_now``."""

    def __init__(
        self,
        store: Store,
        accounts: dict[str, Account],
        plugins: PluginSet,
        *,
        worker_id: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] | None,
        rng: random.Random,
        settings: WorkerSettings,
    ) -> None:
        """Hold what a run needs; nothing is opened until something is sent."""
        self.store = store
        self.accounts = accounts
        self.plugins = plugins
        self.worker_id = worker_id
        self.clock = clock
        self._sleep = sleep
        self.rng = rng
        self.rng_lock = threading.Lock()
        self.settings = settings
        self._limiters: dict[str, RateLimiter] = {}
        self._limiters_lock = threading.Lock()
        # SQLite has one writer at a time and its busy handler waits by sleeping (1, 2, 5, 10 ms ...):
        # this process's writers (claims, renewals, releases, the recorder) queue on a lock instead,
        # which hands over at once. PostgreSQL locks rows, so its writers run side by side.
        self._write_lock = threading.Lock() if store.engine.dialect.name == "sqlite" else None
        self.recorder = Recorder(store, worker_id=worker_id, clock=clock, writing=self.writing)

    def limiter(self, account: Account) -> RateLimiter | None:
        """The rate limiter of ``account`` in this worker (None when it has no limit)."""
        assert account.send is not None
        if account.send.rate_limit is None:
            return None
        with self._limiters_lock:
            if account.name not in self._limiters:
                self._limiters[account.name] = RateLimiter(account.send.rate_limit, self.clock)
            return self._limiters[account.name]

    def writing(self) -> AbstractContextManager[object]:
        """Hold while a transaction of this worker writes (this process's writers take turns on SQLite)."""
        return self._write_lock if self._write_lock is not None else nullcontext()

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds`` (the injected sleep; else until ``stop``, mail queued here, or the time)."""
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            sleep_until_queued(seconds, stop)

    # ------------------------------------------------------------------ one group
    def send_group(
        self, slot: SessionSlot, group: Sequence[Claimed], stop: threading.Event, stats: StatsCollector
    ) -> list[tuple[Claimed, Outcome]]:
        """Send ``group`` over ``slot``; return every outcome, in order, once all are durable.

        Messages not attempted because ``stop`` was set go back to the queue unchanged.
        """
        account = slot.account
        assert account.send is not None
        limiter = self.limiter(account)
        lease = self.settings.lease
        lease_until = self.clock() + lease
        lane = self.recorder.lane(stats)
        attempted = 0
        try:
            for index, item in enumerate(group):
                lane.wait_below(self.settings.mark_batch)
                if stop.is_set() or not self._admit(limiter, stop):
                    break
                now = self.clock()
                if now >= lease_until - lease / 2:
                    lease_until = now + lease
                    with self.writing():
                        renew(
                            self.store,
                            [i.id for i in group[index:]],
                            worker_id=self.worker_id,
                            until=lease_until,
                        )
                if item.reclaimed_from is not None:
                    stats.add(reclaimed=1)
                result = attempt(slot, item)
                attempted = index + 1
                at = self.clock()
                with self.rng_lock:
                    outcome = decide(account.send, item, result, at, self.rng)
                lane.hand(
                    Done(
                        account=account.name,
                        max_attempts=account.send.max_attempts,
                        item=item,
                        outcome=outcome,
                        at=at,
                    )
                )
        finally:
            try:
                rest = [i.id for i in group[attempted:]]
                if rest:
                    with self.writing(), self.store.session() as session:
                        _repo.release(session, rest, self.worker_id)
            finally:
                lane.close()
        return lane.written

    def _admit(self, limiter: RateLimiter | None, stop: threading.Event) -> bool:
        if limiter is None:
            return True
        while not stop.is_set():
            wait = limiter.try_acquire()
            if wait <= 0:
                return True
            self.sleep(wait, stop)
        return False

    # ------------------------------------------------------------------ session threads
    def session_loop(self, account: Account, stop: threading.Event, stats: StatsCollector) -> None:
        """Claim and send groups of ``account`` over one session until none is due or ``stop``."""
        slot = SessionSlot(account, self.plugins, on_open=lambda: stats.add(sessions=1))
        try:
            while not stop.is_set():
                group = self._claim(account)
                if not group:
                    return
                stats.add(claimed=len(group))
                self.send_group(slot, group, stop, stats)
        except Exception as exc:  # reported in the run's stats; the claims expire
            text = slot.redact(f"account {account.name!r}: session stopped: {type(exc).__name__}: {exc}")
            log.error("%s", text)
            stats.error(text)
        finally:
            slot.drop()

    def _claim(self, account: Account) -> list[Claimed]:
        """The next group of ``account`` for a session thread, claimed in the recorder's next transaction."""
        now, lease, limit = self.clock(), self.settings.lease, self.settings.batch_size
        picked = self.recorder.claim(account=account.name, limit=limit, now=now, lease=lease)
        if picked is not None:
            return read_claimed(self.store, picked)
        with self.writing():  # that transaction failed: claim alone, so a store error surfaces here
            return claim(
                self.store, worker_id=self.worker_id, now=now, lease=lease, limit=limit, account=account.name
            )

    def run(self, *, once: bool, stop: threading.Event, stats: StatsCollector) -> None:
        """Drain due messages: until none is due (``once``), else until ``stop`` is set."""
        threads: dict[str, list[threading.Thread]] = {}
        warned: set[str] = set()
        try:
            while not stop.is_set():
                before = stats.claimed
                with self.store.session(readonly=True) as session:
                    due = _repo.due_accounts(session, self.clock())
                started = self._start_threads(due, threads, warned, stop, stats)
                if once:
                    self._join(threads)
                    if not started or stats.claimed == before:
                        return
                else:
                    self.sleep(self.settings.poll_interval.total_seconds(), stop)
        finally:
            self._join(threads)

    def _start_threads(
        self,
        due: list[str],
        threads: dict[str, list[threading.Thread]],
        warned: set[str],
        stop: threading.Event,
        stats: StatsCollector,
    ) -> int:
        started = 0
        for name in due:
            account = self.accounts.get(name)
            if account is None or account.send is None:
                if name not in warned:
                    warned.add(name)
                    log.warning(
                        "outbox: messages queued for account %r, which the config has no send section for; "
                        "they wait until it does",
                        name,
                    )
                continue
            alive = [t for t in threads.get(name, []) if t.is_alive()]
            for number in range(account.send.max_sessions - len(alive)):
                thread = threading.Thread(
                    target=self.session_loop,
                    args=(account, stop, stats),
                    name=f"mailconduit-outbox-{name}-{len(alive) + number + 1}",
                    daemon=True,
                )
                thread.start()
                alive.append(thread)
                started += 1
            threads[name] = alive
        return started

    @staticmethod
    def _join(threads: dict[str, list[threading.Thread]]) -> None:
        for group in threads.values():
            for thread in group:
                thread.join()
        threads.clear()
