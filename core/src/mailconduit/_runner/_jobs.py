"""The runner's jobs: one thread per pipeline, one for the outbox worker; none ever stops silently.

A pipeline job owns its pipeline while it runs it: on PostgreSQL it holds an advisory lock (the
pipeline's *ownership*) on the runner's ownership connection (``Ownerships``: one connection per
runner holds every pipeline it owns), so of several runners exactly one replicates a pipeline and
the others stand by, trying again every ``min(interval, 30 s)`` without writing its status (the
owner reports it); a runner that dies drops its connection, its locks go with it, and a standby
takes over at its next try. Inside, every run still takes the per-folder lock of
``_replicate._lock``, so one replicator per account/folder holds at any instant whatever the
ownership does. A run that fails permanently (a rejected login, a missing folder) is recorded and
retried after the account's backoff; the job goes on until the runner stops it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mailconduit._outbox import Outbox, RunStats
from mailconduit._pipeline import Pipeline, watch_pipeline
from mailconduit._plugins import PluginSet
from mailconduit._replicate import AlreadyRunning
from mailconduit._retry import backoff_delay
from mailconduit._runner._board import StatusBoard
from mailconduit._store import Store
from mailconduit._types import Credentials, RunResult

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["STANDBY_MAX", "OutboxJob", "OwnershipLost", "Ownerships", "PipelineJob", "ownership_key"]

log = logging.getLogger("mailconduit.runner")

BEAT = 5.0
"""Seconds between the outbox job's heartbeats while it sends."""


def ownership_key(pipeline: str, account: str, folder: str) -> int:
    """The advisory-lock key of a pipeline's ownership (distinct from the per-folder run lock)."""
    digest = hashlib.sha256(f"mailconduit.pipeline\0{pipeline}\0{account}\0{folder}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


STANDBY_MAX = 30.0
"""Longest a standby waits between two tries to take a pipeline over (else its interval)."""


class Ownerships:
    """The pipelines one runner owns: advisory locks on one connection of the runner (PostgreSQL).

    Session-level advisory locks stack on one connection, so a runner needs one connection for
    every pipeline it owns or stands by for, not one each: with one per pipeline, twenty pipelines
    held (or, standing by, kept trying to get) twenty pooled connections each needing a second one
    for its status, and the pool ran dry. Closing the connection releases every lock on it. Where
    the store is not PostgreSQL there is one runner per store and every pipeline is owned.

    Args:
        store: the store (its engine gives the connection).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.shared = store.engine.dialect.name == "postgresql"
        self._connection: Any = None
        self._held: Counter[int] = Counter()
        self._lock = threading.Lock()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._held.clear()
        if connection is not None:
            try:
                connection.close()  # the locks go with the connection
            except Exception:
                log.warning("could not close the ownership connection; its locks go with it", exc_info=True)

    def try_own(self, key: int) -> bool:
        """Take the ownership lock ``key`` if no other runner holds it; True when this runner has it."""
        if not self.shared:
            return True
        from sqlalchemy import text

        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self.store.engine.connect()
                got = bool(
                    self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
                )
                self._connection.commit()
            except Exception:
                self._drop()  # a broken connection holds nothing any more
                raise
            if got:
                self._held[key] += 1
            return got

    def release(self, key: int) -> None:
        """Give up the ownership lock ``key`` (taken by ``try_own``)."""
        if not self.shared:
            return
        from sqlalchemy import text

        with self._lock:
            if self._connection is None or self._held[key] <= 0:
                return
            self._held[key] -= 1
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                self._connection.commit()
            except Exception:
                log.warning(
                    "could not release a pipeline's ownership; dropping the connection", exc_info=True
                )
                self._drop()

    def holds(self, key: int) -> bool:
        """Whether this runner still holds ``key``: its connection answers and the lock is on it.

        A connection PostgreSQL dropped (a restart, a network cut) took its locks with it, and a
        standby may already have taken the pipeline over.
        """
        if not self.shared:
            return True
        from sqlalchemy import text

        with self._lock:
            if self._connection is None or self._held[key] <= 0:
                return False
            try:
                self._connection.execute(text("SELECT 1")).scalar()
                self._connection.commit()
            except Exception:
                log.warning(
                    "the ownership connection is gone, and every pipeline lock with it", exc_info=True
                )
                self._drop()
                return False
            return True

    def close(self) -> None:
        """Release every ownership lock of this runner (closes its connection)."""
        with self._lock:
            self._drop()


class OwnershipLost(RuntimeError):
    """The runner's hold on a pipeline went with its database connection; the job re-takes or stands by."""


class PipelineJob:
    """Runs one pipeline until stopped: owns it (or stands by), watches it, records every run.

    Args:
        pipeline: the pipeline.
        store, plugins, config: what its runs use.
        board: where its status goes.
        stop: set by the runner to stop the job after the batch in hand.
        ownerships: the runner's ownership locks (default: a connection of the job's own).
        on_result: called with every run's result (tests, metrics).
        rng: the jitter source of the backoff after a permanent error.
    """

    kind = "pipeline"

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        store: Store,
        plugins: PluginSet,
        config: Config,
        board: StatusBoard,
        stop: threading.Event,
        on_result: Callable[[str, RunResult], None] | None = None,
        rng: random.Random | None = None,
        ownerships: Ownerships | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.ownerships = ownerships or Ownerships(store)
        self.store, self.plugins, self.config = store, plugins, config
        self.board, self.stop = board, stop
        self.on_result = on_result
        self.rng = rng or random.Random()
        self._key = ownership_key(pipeline.name, pipeline.account.name, pipeline.folder)
        self.thread = threading.Thread(target=self.run, name=f"pipeline-{pipeline.name}", daemon=True)

    @property
    def name(self) -> str:
        """The pipeline's name."""
        return self.pipeline.name

    def _record(self, result: RunResult) -> None:
        if isinstance(result, AlreadyRunning):
            self.board.standby(self.kind, self.name)
        else:
            self.board.ran(
                self.kind,
                self.name,
                mode=result.mode,
                processed=result.stored + result.known,
                failed=result.failed,
                lag=result.remaining,
            )
        if self.on_result is not None:
            self.on_result(self.name, result)
        if not self.ownerships.holds(self._key):  # the run was committed; the next one must own it again
            raise OwnershipLost(
                f"pipeline {self.name!r}: this runner lost its ownership (its database connection "
                "dropped); taking it again or standing by"
            )

    def _logged_in(self, credentials: Credentials | None) -> None:
        if credentials is not None and credentials.expires_at is not None:
            self.board.token(self.kind, self.name, credentials.expires_at)

    def run(self) -> None:
        """The job's thread: own, watch, record; retry after any error until stopped."""
        pipeline = self.pipeline
        key = self._key
        failures = 0
        while not self.stop.is_set():
            try:
                if not self.ownerships.try_own(key):
                    # another runner owns it and reports it: writing "standby" over its row would
                    # hide its state from status and its watchdog
                    self.stop.wait(min(pipeline.interval, STANDBY_MAX))
                    continue
                try:
                    self.board.started(
                        self.kind,
                        self.name,
                        account=pipeline.account.name,
                        folder=pipeline.folder,
                        interval=pipeline.interval,
                    )
                    watch_pipeline(
                        pipeline,
                        store=self.store,
                        plugins=self.plugins,
                        config=self.config,
                        cancel=self.stop,
                        on_result=self._record,
                        on_error=lambda exc: self.board.failed(self.kind, self.name, exc),
                        on_login=self._logged_in,
                        rng=self.rng,
                    )
                    failures = 0
                    if self.stop.is_set() and self.ownerships.shared:
                        self.board.stopped(self.kind, self.name)  # while it still owns the row
                finally:
                    self.ownerships.release(key)
            except Exception as exc:  # permanent errors: recorded, retried after a backoff
                failures += 1
                self.board.failed(self.kind, self.name, exc)
                delay = backoff_delay(failures, pipeline.receive.reconnect_backoff, self.rng).total_seconds()
                log.error("pipeline %s: %s; trying again in %.0f s", self.name, exc, delay)
                self.stop.wait(delay)
        if not self.ownerships.shared:
            self.board.stopped(self.kind, self.name)


class OutboxJob:
    """Runs the outbox worker of this runner for every account that sends, until stopped.

    Its status row is named ``outbox@RUNNER``: every runner's worker reports its own counts.
    """

    kind = "outbox"

    def __init__(
        self,
        *,
        store: Store,
        plugins: PluginSet,
        config: Config,
        board: StatusBoard,
        stop: threading.Event,
        worker_id: str,
        once: bool = False,
    ) -> None:
        self.store, self.plugins, self.config = store, plugins, config
        self.board, self.stop = board, stop
        self.worker_id, self.once = worker_id, once
        self.name = f"outbox@{worker_id}"  # one row per runner: counts are this worker's own
        self.stats: RunStats | None = None
        self._last_beat = 0.0
        self.thread = threading.Thread(target=self.run, name="outbox", daemon=True)

    def _progress(self, stats: RunStats) -> None:
        """Keep the latest counts (the heartbeat thread reports them)."""
        self.stats = stats

    def _heartbeat(self, worker: threading.Thread) -> None:
        """While the worker loop lives, report it alive with its counts every ``BEAT`` seconds."""
        while worker.is_alive() and not self.stop.wait(BEAT):
            stats = self.stats
            self.board.alive(
                self.kind,
                self.name,
                mode="worker",
                processed=stats.sent if stats else 0,
                failed=stats.failed if stats else 0,
            )

    def run(self) -> None:
        """The job's thread: the outbox worker's loop, restarted after any error until stopped."""
        failures = 0
        beats = threading.Thread(target=self._heartbeat, args=(threading.current_thread(),), daemon=True)
        beats.start()
        while not self.stop.is_set():
            try:
                self.board.started(self.kind, self.name, account=None, folder=None, interval=BEAT)
                self.board.alive(self.kind, self.name, mode="worker", processed=0, failed=0)
                outbox = Outbox(self.store, self.config, self.plugins, worker_id=self.worker_id)
                self.stats = outbox.run(once=self.once, stop=self.stop, progress=self._progress)
                self.board.alive(
                    self.kind, self.name, mode="worker", processed=self.stats.sent, failed=self.stats.failed
                )
                if self.once:
                    break
            except Exception as exc:
                failures += 1
                self.board.failed(self.kind, self.name, exc)
                log.error("outbox worker: %s; restarting in %d s", exc, min(60, 2**failures))
                self.stop.wait(min(60, 2**failures))
        self.board.stopped(self.kind, self.name)
