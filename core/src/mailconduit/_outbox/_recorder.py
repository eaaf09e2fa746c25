"""Group commit: one thread per worker writes the outcomes its session threads hand over.

A session thread hands each outcome to the worker's :class:`Recorder` through its :class:`Lane`
and goes on sending; the recorder thread takes everything waiting (from every lane) and writes it
in one transaction (``_record.write_outcomes``), so four sessions pay for one commit, not four, and
never queue behind each other for SQLite's write lock. A lane never runs far ahead of the store:
before each send it waits until fewer than ``mark_batch`` of its outcomes are not yet durable, so
at any moment at most ``mark_batch`` messages of one session were accepted by the server but not
marked sent (the duplicate window of RELIABILITY.md C3).

Claims go through the recorder too (:meth:`Recorder.claim`): a session thread that needs its next
group asks, and the claim runs in the same transaction as the outcomes waiting then, so it costs no
commit of its own and never holds SQLite's write lock while the recorder waits for it (a claim in
a transaction of its own did both, and every session stalled behind it).

The recorder thread starts with the first lane or claim and ends when the last lane is closed and
nothing waits. When writing a batch fails, every lane with an outcome in it gets the error on its
next wait (its session thread stops and reports it); those messages keep their claims, which
expire. A claim in a failed transaction is answered with ``None`` and its caller claims on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta

from sqlalchemy import Connection

from mailconduit._outbox._claim import Claimed, Picked, pick
from mailconduit._outbox._record import Done, write_outcomes
from mailconduit._outbox._report import Outcome, StatsCollector
from mailconduit._store._engine import WRITER
from mailconduit._store._store import Store

__all__ = ["Lane", "Recorder"]

log = logging.getLogger("mailconduit.outbox")

_COUNTER = {"sent": "sent", "retry": "retried", "failed": "failed"}

TOP_UPS = 2
"""How many times a transaction takes in what was handed over while it was being written."""


class Lane:
    """One session thread's outcomes on their way to the store."""

    def __init__(self, recorder: Recorder, stats: StatsCollector) -> None:
        """Open a lane of ``recorder``; counts go to ``stats`` once written."""
        self._recorder = recorder
        self._written = threading.Condition(recorder.lock)  # the recorder wrote some of ours
        self.stats = stats
        self.unwritten = 0
        self.written: list[tuple[Claimed, Outcome]] = []
        self.error: BaseException | None = None

    def hand(self, done: Done) -> None:
        """Give ``done`` to the recorder and return at once."""
        recorder = self._recorder
        with recorder.lock:
            self.unwritten += 1
            recorder.waiting.append((self, done))
            recorder.work.notify()

    def wait_below(self, limit: int) -> None:
        """Block until fewer than ``limit`` of this lane's outcomes are not yet written.

        Raises:
            Exception: writing one of this lane's outcomes failed (the store's error).
        """
        with self._recorder.lock:
            while self.unwritten >= limit and self.error is None:
                self._written.wait()
            error, self.error = self.error, None
        if error is not None:
            raise error

    def notify(self) -> None:
        """Wake this lane's session thread if it waits (the caller holds the recorder's lock)."""
        self._written.notify()

    def close(self) -> None:
        """Wait for this lane's outcomes to be written, then leave the recorder.

        Raises:
            Exception: writing one of this lane's outcomes failed.
        """
        try:
            self.wait_below(1)
        finally:
            self._recorder.leave(self)


class _ClaimRequest:
    """A session thread's request for its next group, answered by the recorder's next transaction."""

    def __init__(self, *, account: str, limit: int, now: datetime, lease: timedelta) -> None:
        self.account = account
        self.limit = limit
        self.now = now
        self.lease = lease
        self.answered = False
        self.picked: Picked | None = None


class Recorder:
    """Writes outcomes of all of a worker's session threads, everything waiting in one transaction."""

    def __init__(
        self,
        store: Store,
        *,
        worker_id: str,
        clock: Callable[[], datetime],
        writing: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        """Prepare (not start) the recorder of worker ``worker_id``; ``writing()`` is held while it writes."""
        self.store = store
        self._writing = writing
        self.worker_id = worker_id
        self.clock = clock
        self.lock = threading.Lock()
        self.work = threading.Condition(self.lock)  # an outcome is waiting, or a lane left
        self.waiting: list[tuple[Lane, Done]] = []
        self.claims: list[_ClaimRequest] = []
        self._answered = threading.Condition(self.lock)  # the recorder answered some claims
        self._lanes = 0
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        """Start the recorder thread unless it runs (the caller holds the lock)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"mailconduit-outbox-recorder-{self.worker_id}", daemon=True
            )
            self._thread.start()

    def lane(self, stats: StatsCollector) -> Lane:
        """A new lane (close it when its session thread is done); starts the recorder thread if needed."""
        with self.lock:
            self._lanes += 1
            self._start()
            return Lane(self, stats)

    def claim(self, *, account: str, limit: int, now: datetime, lease: timedelta) -> Picked | None:
        """Claim up to ``limit`` due messages of ``account`` in the recorder's next transaction.

        Returns what was claimed once it is committed (read the bytes with ``read_claimed``), or
        None when that transaction failed (nothing was claimed; claim on your own to see why).
        """
        request = _ClaimRequest(account=account, limit=limit, now=now, lease=lease)
        with self.lock:
            self.claims.append(request)
            self._start()
            self.work.notify()
            while not request.answered:
                self._answered.wait()
        return request.picked

    def leave(self, lane: Lane) -> None:
        """Forget ``lane``; the thread ends after the last lane has left and nothing waits."""
        with self.lock:
            self._lanes -= 1
            self.work.notify()

    def _loop(self) -> None:
        connection: Connection | None = None  # one connection while the thread runs
        try:
            while True:
                with self.lock:
                    while not self.waiting and not self.claims and self._lanes > 0:
                        self.work.wait()
                    if not self.waiting and not self.claims:
                        self._thread = None
                        return
                    batch, self.waiting = self.waiting, []
                    claims, self.claims = self.claims, []
                if connection is None:
                    connection = self.store.engine.connect().execution_options(**{WRITER: True})
                if not self._write(connection, batch, claims):
                    connection.close()  # a failed write may leave it unusable: the next batch opens another
                    connection = None
        finally:
            if connection is not None:
                connection.close()

    def _write(
        self, connection: Connection, batch: list[tuple[Lane, Done]], claims: list[_ClaimRequest]
    ) -> bool:
        """Write ``batch`` and run ``claims`` in one transaction; what arrives meanwhile joins it.

        ``batch`` and ``claims`` grow in place with what was handed over while the transaction
        was being written (up to :data:`TOP_UPS` times), so those outcomes are durable with this
        commit instead of waiting for the whole next one.
        """
        error: BaseException | None = None
        picked: list[Picked] = []
        try:
            with self._writing(), connection.begin():
                outcomes, requests = list(batch), list(claims)
                for top_up in range(TOP_UPS + 1):
                    if outcomes:
                        dones = [done for _lane, done in outcomes]
                        write_outcomes(connection, dones, worker_id=self.worker_id, now=self.clock())
                    for request in requests:
                        picked.append(
                            pick(
                                connection,
                                worker_id=self.worker_id,
                                now=request.now,
                                lease=request.lease,
                                limit=request.limit,
                                account=request.account,
                            )
                        )
                    if top_up == TOP_UPS:
                        break
                    with self.lock:
                        outcomes, self.waiting = self.waiting, []
                        requests, self.claims = self.claims, []
                        batch += outcomes
                        claims += requests
                    if not outcomes and not requests:
                        break
            counts: dict[Lane, dict[str, int]] = {}
            for lane, done in batch:
                tally = counts.setdefault(lane, {"sent": 0, "retried": 0, "failed": 0, "ambiguous": 0})
                tally[_COUNTER[done.outcome.kind]] += 1
                tally["ambiguous"] += int(done.outcome.ambiguous)
            for lane, tally in counts.items():  # counted before the lanes learn they are written
                lane.stats.add(**tally)
        except BaseException as exc:  # handed to the lanes concerned; their session threads report it
            log.error(
                "outbox: recording %d outcomes and %d claims failed: %s: %s",
                len(batch),
                len(claims),
                type(exc).__name__,
                exc,
            )
            error = exc
        with self.lock:
            for number, request in enumerate(claims):
                request.answered = True
                request.picked = picked[number] if error is None else None
            if claims:
                self._answered.notify_all()
            for lane, done in batch:
                lane.unwritten -= 1
                if error is None:
                    lane.written.append((done.item, done.outcome))
                else:
                    lane.error = error
            for lane in {lane for lane, _done in batch}:
                lane.notify()
        return error is None
