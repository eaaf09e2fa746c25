"""``Runner``: every pipeline and the outbox worker of a configuration, as one long-lived service.

``start`` starts a thread per pipeline (IDLE or polling, see ``_jobs``), the outbox worker, the
watchdog and, when asked, the health endpoint. ``stop`` sets the jobs' stop event: each finishes
the batch in hand (replication stops between batches; the outbox puts back what it has not
attempted), and ``stop`` waits for them. ``reload`` is a stop followed by a start with a freshly
loaded configuration; a configuration with errors is refused and the running one kept.
``run_once`` runs every pipeline once and drains the outbox once, for cron-style use and tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from attrs import define, field

from mailconduit._pipeline import Pipeline, pipelines_of, run_pipeline
from mailconduit._plugins import PluginSet
from mailconduit._runner._board import StatusBoard, runner_id
from mailconduit._runner._jobs import OutboxJob, Ownerships, PipelineJob
from mailconduit._runner._watchdog import Watchdog
from mailconduit._store import Store
from mailconduit._types import RunResult

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["OnceResult", "Runner"]

log = logging.getLogger("mailconduit.runner")

STOP_TIMEOUT = 120.0
"""Longest ``stop`` waits for the jobs to finish the batch in hand."""


@define(kw_only=True)
class OnceResult:
    """What ``Runner.run_once`` did.

    Attributes:
        results: every pipeline's run result, by name.
        errors: every pipeline's error, by name (the others still ran).
        sent: messages the outbox sent.
        failed: messages the outbox failed for good.
    """

    results: dict[str, RunResult] = field(factory=dict)
    errors: dict[str, str] = field(factory=dict)
    sent: int = 0
    failed: int = 0


class Runner:
    """Runs a configuration's pipelines and outbox worker until stopped.

    Args:
        config: the configuration.
        store: the open store (shared by every job; PostgreSQL for several runners).
        plugins: the loaded plugins.
        pipelines: only these pipelines (default: all).
        outbox: run the outbox worker (default True).
        health_port: serve ``/health`` and ``/metrics`` on 127.0.0.1:PORT (default: the config's).
        on_result: called with ``(pipeline, result)`` after every run.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        plugins: PluginSet,
        *,
        pipelines: Sequence[str] | None = None,
        outbox: bool = True,
        health_port: int | None = None,
        on_result: Callable[[str, RunResult], None] | None = None,
        watchdog_check_every: float = 5.0,
    ) -> None:
        self.config, self.store, self.plugins = config, store, plugins
        self.only = list(pipelines) if pipelines is not None else None
        self.with_outbox = outbox
        self.health_port = health_port if health_port is not None else config.runner.health_port
        self.on_result = on_result
        self.watchdog_check_every = watchdog_check_every
        self.id = runner_id()
        self.board = StatusBoard(store, self.id)
        self._stop = threading.Event()
        self._jobs: list[PipelineJob] = []
        self._ownerships: Ownerships | None = None
        self._outbox: OutboxJob | None = None
        self._watchdog: Watchdog | None = None
        self._health: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Runner(id={self.id!r}, pipelines={[j.name for j in self._jobs]!r})"

    def pipelines(self) -> list[Pipeline]:
        """The pipelines this runner runs (all, or those named)."""
        every = pipelines_of(self.config)
        if self.only is None:
            return every
        known = {p.name: p for p in every}
        missing = [n for n in self.only if n not in known]
        if missing:
            raise LookupError(
                f"no pipeline {', '.join(map(repr, missing))}; pipelines: {', '.join(known) or 'none'}"
            )
        return [known[n] for n in self.only]

    @property
    def jobs(self) -> list[PipelineJob]:
        """The running pipeline jobs."""
        return list(self._jobs)

    def start(self) -> None:
        """Start every job, the watchdog and the health endpoint; returns at once."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        from mailconduit._auth_context import StoreAuthContext

        self.plugins.attach_auth_context(StoreAuthContext.for_config(self.store, self.config))
        self._stop = threading.Event()
        self._ownerships = Ownerships(self.store)
        self._jobs = [
            PipelineJob(
                pipeline,
                store=self.store,
                plugins=self.plugins,
                config=self.config,
                board=self.board,
                stop=self._stop,
                on_result=self.on_result,
                ownerships=self._ownerships,
            )
            for pipeline in self.pipelines()
        ]
        senders = any(a.send is not None for a in self.config.accounts.values())
        self._outbox = None
        if self.with_outbox and senders:
            self._outbox = OutboxJob(
                store=self.store,
                plugins=self.plugins,
                config=self.config,
                board=self.board,
                stop=self._stop,
                worker_id=self.id,
            )
            self._outbox.thread.start()
        for job in self._jobs:
            job.thread.start()
        self._watchdog = Watchdog(
            self._jobs,
            self.board,
            intervals=self.config.runner.watchdog_intervals,
            report=self.plugins.hooks.on_run_error,
            stop=self._stop,
            check_every=self.watchdog_check_every,
        )
        self._watchdog.thread.start()
        if self.health_port is not None and self._health is None:
            from mailconduit._runner._health import HealthServer

            self._health = HealthServer(self.store, self.config, port=self.health_port)
            self._health.start()
        names = ", ".join(j.name for j in self._jobs) or "none"
        log.info(
            "runner %s started: pipelines %s; outbox %s", self.id, names, "on" if self._outbox else "off"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Stop every job after the batch in hand; True when all stopped within ``timeout``."""
        with self._lock:
            return self._stop_jobs(timeout, health=True)

    def _stop_jobs(self, timeout: float, *, health: bool) -> bool:
        self._stop.set()
        threads = [j.thread for j in self._jobs]
        if self._outbox is not None:
            threads.append(self._outbox.thread)
        if self._watchdog is not None:
            threads.append(self._watchdog.thread)
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            for thread in threads:
                while thread.is_alive() and not deadline.is_set():
                    thread.join(0.2)
        finally:
            timer.cancel()
        if self._ownerships is not None:
            self._ownerships.close()  # whatever a job still held goes to the standbys
        if health and self._health is not None:
            self._health.stop()
            self._health = None
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            log.error("runner %s: %s did not stop within %.0f s", self.id, ", ".join(alive), timeout)
        else:
            log.info("runner %s stopped", self.id)
        return not alive

    def reload(self, config: Config) -> None:
        """Stop the jobs, take ``config``, start again (the health endpoint keeps serving)."""
        with self._lock:
            self._stop_jobs(STOP_TIMEOUT, health=False)
            self.config = config
            if self._health is not None:
                self._health.config = config
            self._start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the runner is stopped (or ``timeout``); True when stopped."""
        return self._stop.wait(timeout)

    def run_once(self, *, progress: Callable[[str, RunResult], None] | None = None) -> OnceResult:
        """Run every pipeline once (each in turn), then drain the outbox once."""
        from mailconduit._auth_context import StoreAuthContext
        from mailconduit._outbox import Outbox

        self.plugins.attach_auth_context(StoreAuthContext.for_config(self.store, self.config))
        outcome = OnceResult()
        for pipeline in self.pipelines():
            self.board.started(
                PipelineJob.kind,
                pipeline.name,
                account=pipeline.account.name,
                folder=pipeline.folder,
                interval=pipeline.interval,
            )
            try:
                result = run_pipeline(pipeline, store=self.store, plugins=self.plugins, config=self.config)
            except Exception as exc:
                self.board.failed(PipelineJob.kind, pipeline.name, exc)
                outcome.errors[pipeline.name] = f"{type(exc).__name__}: {exc}"
                continue
            self.board.ran(
                PipelineJob.kind,
                pipeline.name,
                mode=result.mode,
                processed=result.stored + result.known,
                failed=result.failed,
                lag=result.remaining,
            )
            outcome.results[pipeline.name] = result
            if progress is not None:
                progress(pipeline.name, result)
        if self.with_outbox and any(a.send is not None for a in self.config.accounts.values()):
            stats = Outbox(self.store, self.config, self.plugins, worker_id=self.id).run(once=True)
            outcome.sent, outcome.failed = stats.sent, stats.failed
        return outcome
