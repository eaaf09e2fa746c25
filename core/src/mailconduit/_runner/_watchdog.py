"""The watchdog: a pipeline that has not completed a run within N intervals is reported, loudly.

This is the "active but silently dead" failure of other tools: a process that looks alive while one
of its subscriptions has hung. The watchdog reads the pipeline jobs' last completed run from the
status board; one that is ``watchdog_intervals`` intervals late is marked ``stalled``, logged as an
error and reported through ``on_run_error`` (once per stall, again after it recovers and stalls
anew); the recovery is logged too, so a log reader sees where each stall ended. Jobs standing by
for another runner are not watched here: their owner's watchdog does that.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from mailconduit._runner._board import StatusBoard
from mailconduit._runner._jobs import PipelineJob
from mailconduit._store._models import RunnerStatus
from mailconduit._types import RunInfo

__all__ = ["PipelineStalled", "Watchdog"]

log = logging.getLogger("mailconduit.runner")


class PipelineStalled(RuntimeError):
    """A pipeline has not completed a run within the watchdog's limit."""


class Watchdog:
    """Checks every pipeline job's last completed run against ``intervals`` of its interval.

    Args:
        jobs: the runner's pipeline jobs.
        board: the status board (read and written).
        intervals: how many intervals without a completed run make a stall.
        report: called with the stall and its run info (the ``on_run_error`` hook).
        check_every: seconds between checks.
    """

    def __init__(
        self,
        jobs: Sequence[PipelineJob],
        board: StatusBoard,
        *,
        intervals: int,
        report: Callable[[BaseException, RunInfo], None],
        stop: threading.Event,
        check_every: float = 5.0,
    ) -> None:
        self.jobs, self.board, self.intervals = list(jobs), board, intervals
        self.report, self.stop, self.check_every = report, stop, check_every
        self.started_at = datetime.now(UTC)
        self._stalled: set[str] = set()
        self.thread = threading.Thread(target=self.run, name="watchdog", daemon=True)

    def check(self, now: datetime | None = None) -> list[str]:
        """One check; returns the names of the pipelines newly found stalled."""
        now = now or datetime.now(UTC)
        found: list[str] = []
        with self.board.store.session(readonly=True) as session:
            rows = {
                row.name: row
                for row in session.query(RunnerStatus).filter(RunnerStatus.kind == PipelineJob.kind)
            }
        for job in self.jobs:
            row = rows.get(job.name)
            if row is not None and (row.state == "standby" or row.runner != self.board.runner):
                continue
            limit = timedelta(seconds=job.pipeline.interval * self.intervals)
            last = row.last_success_at if row is not None and row.last_success_at else self.started_at
            if now - last <= limit:
                if job.name in self._stalled:
                    self._stalled.discard(job.name)
                    log.warning("watchdog: pipeline %r completes runs again", job.name)
                continue
            if job.name in self._stalled:
                continue
            self._stalled.add(job.name)
            found.append(job.name)
            reason = (
                f"pipeline {job.name!r} has completed no run for {now - last} "
                f"(limit: {self.intervals} x {timedelta(seconds=job.pipeline.interval)})"
            )
            log.error("watchdog: %s", reason)
            self.board.stalled(job.kind, job.name, reason)
            run = RunInfo(
                run_id=uuid.uuid4().hex,
                account=job.pipeline.account.name,
                folder=job.pipeline.folder,
                protocol=job.pipeline.receive.protocol,
                started_at=last,
                mode="idle" if job.pipeline.receive.subscribe else "polling",
                cancel=threading.Event(),
            )
            try:
                self.report(PipelineStalled(reason), run)
            except Exception:
                log.exception("on_run_error raised for a stalled pipeline; the watchdog goes on")
        return found

    def run(self) -> None:
        """The watchdog's thread: check until stopped."""
        while not self.stop.wait(self.check_every):
            try:
                self.check()
            except Exception:
                log.exception("the watchdog's check failed; trying again")
