"""The drain loop: claim small groups, send them over reused sessions, record each outcome at once.

Per account up to ``send.max_sessions`` session threads run at a time in this process; each holds
one session, claims a group of at most ``batch_size`` due messages of its account, sends them one
by one over that session (after the rate limiter admits each), and writes outcomes in commits of
``mark_batch`` messages (default 1) right after the server's reply. Claims are leased and renewed
while a group is being worked on; a stopping worker puts what it has not attempted back.

Duplicate bound (RELIABILITY.md C3): a message is sent again only when a worker stopped between
the server's 250 and the commit that marks it sent, or a connection was lost after the final dot
before the reply (counted as *ambiguous*). A killed worker loses at most ``mark_batch`` unmarked
messages per open session, so one kill duplicates at most ``mark_batch * max_sessions`` messages per
account it was sending for (with the defaults: ``max_sessions``). Nothing is lost: an unmarked
claim expires after the lease and another worker sends it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from attrs import define, field

from mailconduit._model import Account
from mailconduit._outbox import _repo
from mailconduit._outbox._attempt import SessionSlot, attempt, decide, record
from mailconduit._outbox._claim import Claimed, claim, renew
from mailconduit._outbox._ratelimit import RateLimiter
from mailconduit._outbox._report import Outcome, StatsCollector
from mailconduit._plugins import PluginSet
from mailconduit._store._store import Store

__all__ = ["Worker", "WorkerSettings"]

log = logging.getLogger("mailconduit.outbox")


@define(frozen=True, kw_only=True)
class WorkerSettings:
    """How a worker claims and records.

    Attributes:
        lease: how long a claim holds without renewal (renewed at half-time while sending).
        batch_size: messages a session thread claims at a time.
        mark_batch: outcomes per commit; the duplicate window of a crash is this many messages
            per session.
        poll_interval: how often a long-running worker looks for due messages.
    """

    lease: timedelta = timedelta(minutes=5)
    batch_size: int = field(default=10)
    mark_batch: int = field(default=1)
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

    def limiter(self, account: Account) -> RateLimiter | None:
        """The rate limiter of ``account`` in this worker (None when it has no limit)."""
        assert account.send is not None
        if account.send.rate_limit is None:
            return None
        with self._limiters_lock:
            if account.name not in self._limiters:
                self._limiters[account.name] = RateLimiter(account.send.rate_limit, self.clock)
            return self._limiters[account.name]

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds`` (the injected sleep, else until ``stop`` is set or the time passes)."""
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            stop.wait(seconds)

    # ------------------------------------------------------------------ one group
    def send_group(
        self, slot: SessionSlot, group: Sequence[Claimed], stop: threading.Event, stats: StatsCollector
    ) -> list[tuple[Claimed, Outcome]]:
        """Send ``group`` over ``slot``; record every outcome; return them in order.

        Messages not attempted because ``stop`` was set go back to the queue unchanged.
        """
        account = slot.account
        assert account.send is not None
        limiter = self.limiter(account)
        lease = self.settings.lease
        lease_until = self.clock() + lease
        pending: list[tuple[Claimed, Outcome]] = []
        done: list[tuple[Claimed, Outcome]] = []
        attempted = 0
        try:
            for index, item in enumerate(group):
                if stop.is_set() or not self._admit(limiter, stop):
                    break
                now = self.clock()
                if now >= lease_until - lease / 2:
                    lease_until = now + lease
                    renew(
                        self.store, [i.id for i in group[index:]], worker_id=self.worker_id, until=lease_until
                    )
                if item.reclaimed_from is not None:
                    stats.add(reclaimed=1)
                result = attempt(slot, item)
                attempted = index + 1
                with self.rng_lock:
                    outcome = decide(account.send, item, result, self.clock(), self.rng)
                pending.append((item, outcome))
                if len(pending) >= self.settings.mark_batch:
                    self._flush(account, pending, done, stats)
        finally:
            if pending:
                self._flush(account, pending, done, stats)
            rest = [i.id for i in group[attempted:]]
            if rest:
                with self.store.session() as session:
                    _repo.release(session, rest, self.worker_id)
        return done

    def _admit(self, limiter: RateLimiter | None, stop: threading.Event) -> bool:
        if limiter is None:
            return True
        while not stop.is_set():
            wait = limiter.try_acquire()
            if wait <= 0:
                return True
            self.sleep(wait, stop)
        return False

    def _flush(
        self,
        account: Account,
        pending: list[tuple[Claimed, Outcome]],
        done: list[tuple[Claimed, Outcome]],
        stats: StatsCollector,
    ) -> None:
        batch = list(pending)
        pending.clear()
        record(self.store, account, batch, now=self.clock())
        done.extend(batch)
        counts = {"sent": 0, "retried": 0, "failed": 0, "ambiguous": 0}
        for _item, outcome in batch:
            counts[{"sent": "sent", "retry": "retried", "failed": "failed"}[outcome.kind]] += 1
            counts["ambiguous"] += int(outcome.ambiguous)
        stats.add(**counts)

    # ------------------------------------------------------------------ session threads
    def session_loop(self, account: Account, stop: threading.Event, stats: StatsCollector) -> None:
        """Claim and send groups of ``account`` over one session until none is due or ``stop``."""
        slot = SessionSlot(account, self.plugins, on_open=lambda: stats.add(sessions=1))
        try:
            while not stop.is_set():
                group = claim(
                    self.store,
                    worker_id=self.worker_id,
                    now=self.clock(),
                    lease=self.settings.lease,
                    limit=self.settings.batch_size,
                    account=account.name,
                )
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
