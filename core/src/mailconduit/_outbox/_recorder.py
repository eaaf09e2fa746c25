"""Group commit: one thread per worker writes the outcomes its session threads hand over.

A session thread hands each outcome to the worker's :class:`Recorder` through its :class:`Lane`
and goes on sending; the recorder thread takes everything waiting (from every lane) and writes it
in one transaction (``_record.write_outcomes``), so four sessions pay for one commit, not four, and
never queue behind each other for SQLite's write lock. A lane never runs far ahead of the store:
before each send it waits until fewer than ``mark_batch`` of its outcomes are not yet durable, so
at any moment at most ``mark_batch`` messages of one session were accepted by the server but not
marked sent (the duplicate window of RELIABILITY.md C3).

The recorder thread starts with the first lane and ends when the last lane is closed. When writing
a batch fails, every lane with an outcome in it gets the error on its next wait (its session thread
stops and reports it); those messages keep their claims, which expire.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from mailconduit._outbox._claim import Claimed
from mailconduit._outbox._record import Done, write_outcomes
from mailconduit._outbox._report import Outcome, StatsCollector
from mailconduit._store._store import Store

__all__ = ["Lane", "Recorder"]

log = logging.getLogger("mailconduit.outbox")

_COUNTER = {"sent": "sent", "retry": "retried", "failed": "failed"}


class Lane:
    """One session thread's outcomes on their way to the store."""

    def __init__(self, recorder: Recorder, stats: StatsCollector) -> None:
        """Open a lane of ``recorder``; counts go to ``stats`` once written."""
        self._recorder = recorder
        self.stats = stats
        self.unwritten = 0
        self.written: list[tuple[Claimed, Outcome]] = []
        self.error: BaseException | None = None

    def hand(self, done: Done) -> None:
        """Give ``done`` to the recorder and return at once."""
        recorder = self._recorder
        with recorder.cond:
            self.unwritten += 1
            recorder.waiting.append((self, done))
            recorder.cond.notify_all()

    def wait_below(self, limit: int) -> None:
        """Block until fewer than ``limit`` of this lane's outcomes are not yet written.

        Raises:
            Exception: writing one of this lane's outcomes failed (the store's error).
        """
        recorder = self._recorder
        with recorder.cond:
            while self.unwritten >= limit and self.error is None:
                recorder.cond.wait()
            error, self.error = self.error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Wait for this lane's outcomes to be written, then leave the recorder.

        Raises:
            Exception: writing one of this lane's outcomes failed.
        """
        try:
            self.wait_below(1)
        finally:
            self._recorder.leave(self)


class Recorder:
    """Writes outcomes of all of a worker's session threads, everything waiting in one transaction."""

    def __init__(self, store: Store, *, worker_id: str, clock: Callable[[], datetime]) -> None:
        """Prepare (not start) the recorder of worker ``worker_id``."""
        self.store = store
        self.worker_id = worker_id
        self.clock = clock
        self.cond = threading.Condition()
        self.waiting: list[tuple[Lane, Done]] = []
        self._lanes = 0
        self._thread: threading.Thread | None = None

    def lane(self, stats: StatsCollector) -> Lane:
        """A new lane (close it when its session thread is done); starts the recorder thread if needed."""
        with self.cond:
            self._lanes += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"mailconduit-outbox-recorder-{self.worker_id}", daemon=True
                )
                self._thread.start()
            return Lane(self, stats)

    def leave(self, lane: Lane) -> None:
        """Forget ``lane``; the thread ends after the last lane has left and nothing waits."""
        with self.cond:
            self._lanes -= 1
            self.cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self.waiting and self._lanes > 0:
                    self.cond.wait()
                if not self.waiting:
                    self._thread = None
                    return
                batch, self.waiting = self.waiting, []
            self._write(batch)

    def _write(self, batch: list[tuple[Lane, Done]]) -> None:
        error: BaseException | None = None
        try:
            with self.store.session() as session:
                write_outcomes(
                    session, [done for _lane, done in batch], worker_id=self.worker_id, now=self.clock()
                )
            counts: dict[Lane, dict[str, int]] = {}
            for lane, done in batch:
                tally = counts.setdefault(lane, {"sent": 0, "retried": 0, "failed": 0, "ambiguous": 0})
                tally[_COUNTER[done.outcome.kind]] += 1
                tally["ambiguous"] += int(done.outcome.ambiguous)
            for lane, tally in counts.items():  # counted before the lanes learn they are written
                lane.stats.add(**tally)
        except BaseException as exc:  # handed to the lanes concerned; their session threads report it
            log.error("outbox: recording %d outcomes failed: %s: %s", len(batch), type(exc).__name__, exc)
            error = exc
        with self.cond:
            for lane, done in batch:
                lane.unwritten -= 1
                if error is None:
                    lane.written.append((done.item, done.outcome))
                else:
                    lane.error = error
            self.cond.notify_all()
