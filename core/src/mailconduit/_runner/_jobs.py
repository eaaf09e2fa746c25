"""The runner's jobs: one thread per pipeline, one for the outbox worker; none ever stops silently.

A pipeline job owns its pipeline while it runs it: on PostgreSQL it holds an advisory lock (the
pipeline's *ownership*) on a connection of its own, so of several runners exactly one replicates a
pipeline and the others stand by, trying again every interval; a runner that dies drops its
connection, its locks go with it, and a standby takes over within one interval. Inside, every run
still takes the per-folder lock of ``_replicate._lock``, so one replicator per account/folder
holds at any instant whatever the ownership does. A run that fails permanently (a rejected login, a
missing folder) is recorded and retried after the account's backoff; the job goes on until the
runner stops it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
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

__all__ = ["OutboxJob", "PipelineJob", "ownership_key"]

log = logging.getLogger("mailconduit.runner")

BEAT = 5.0
"""Seconds between the outbox job's heartbeats while it sends."""


def ownership_key(pipeline: str, account: str, folder: str) -> int:
    """The advisory-lock key of a pipeline's ownership (distinct from the per-folder run lock)."""
    digest = hashlib.sha256(f"mailconduit.pipeline\0{pipeline}\0{account}\0{folder}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _Ownership(AbstractContextManager["_Ownership"]):
    """Try to own a pipeline: an advisory lock on a connection held while it is owned (PostgreSQL)."""

    def __init__(self, store: Store, key: int) -> None:
        self.store, self.key = store, key
        self.connection: Any = None
        self.owned = False

    def __enter__(self) -> _Ownership:
        if self.store.engine.dialect.name != "postgresql":
            self.owned = True
            return self
        from sqlalchemy import text

        self.connection = self.store.engine.connect()
        got = self.connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
        self.connection.commit()
        self.owned = bool(got)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.connection is not None:
            self.connection.close()  # the lock goes with the connection
            self.connection = None


class PipelineJob:
    """Runs one pipeline until stopped: owns it (or stands by), watches it, records every run.

    Args:
        pipeline: the pipeline.
        store, plugins, config: what its runs use.
        board: where its status goes.
        stop: set by the runner to stop the job after the batch in hand.
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
    ) -> None:
        self.pipeline = pipeline
        self.store, self.plugins, self.config = store, plugins, config
        self.board, self.stop = board, stop
        self.on_result = on_result
        self.rng = rng or random.Random()
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

    def _logged_in(self, credentials: Credentials | None) -> None:
        if credentials is not None and credentials.expires_at is not None:
            self.board.token(self.kind, self.name, credentials.expires_at)

    def run(self) -> None:
        """The job's thread: own, watch, record; retry after any error until stopped."""
        pipeline = self.pipeline
        key = ownership_key(pipeline.name, pipeline.account.name, pipeline.folder)
        failures = 0
        while not self.stop.is_set():
            try:
                with _Ownership(self.store, key) as ownership:
                    if not ownership.owned:
                        self.board.standby(self.kind, self.name)
                        self.stop.wait(min(pipeline.interval, 30.0))
                        continue
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
            except Exception as exc:  # permanent errors: recorded, retried after a backoff
                failures += 1
                self.board.failed(self.kind, self.name, exc)
                delay = backoff_delay(failures, pipeline.receive.reconnect_backoff, self.rng).total_seconds()
                log.error("pipeline %s: %s; trying again in %.0f s", self.name, exc, delay)
                self.stop.wait(delay)
        self.board.stopped(self.kind, self.name)


class OutboxJob:
    """Runs the outbox worker of this runner for every account that sends, until stopped."""

    kind = "outbox"
    name = "outbox"

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
        self.stats: RunStats | None = None
        self._last_beat = 0.0
        self.thread = threading.Thread(target=self.run, name="outbox", daemon=True)

    def _progress(self, stats: RunStats) -> None:
        """Keep the latest counts; a heartbeat at most every ``BEAT`` seconds."""
        self.stats = stats
        now = time.monotonic()
        if now - self._last_beat >= BEAT:
            self._last_beat = now
            self.board.beat(self.kind, self.name)

    def run(self) -> None:
        """The job's thread: the outbox worker's loop, restarted after any error until stopped."""
        failures = 0
        while not self.stop.is_set():
            try:
                self.board.started(self.kind, self.name, account=None, folder=None, interval=5.0)
                outbox = Outbox(self.store, self.config, self.plugins, worker_id=self.worker_id)
                self.stats = outbox.run(once=self.once, stop=self.stop, progress=self._progress)
                self.board.ran(
                    self.kind,
                    self.name,
                    mode="worker",
                    processed=self.stats.sent,
                    failed=self.stats.failed,
                    lag=None,
                )
                if self.once:
                    break
            except Exception as exc:
                failures += 1
                self.board.failed(self.kind, self.name, exc)
                log.error("outbox worker: %s; restarting in %d s", exc, min(60, 2**failures))
                self.stop.wait(min(60, 2**failures))
        self.board.stopped(self.kind, self.name)
