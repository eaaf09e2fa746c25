"""The status board: what each job of a runner last did, written to ``runner_status`` in the store.

Every runner process writes the rows of the jobs it runs (one row per pipeline, one for its outbox
worker), so ``mailconduit status`` and the health endpoint of any machine read the same facts.
Writes are small single-row upserts; a failing write is logged and never stops a job.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

from mailconduit._store import Store
from mailconduit._store._models import RunnerStatus

__all__ = ["StatusBoard", "runner_id"]

log = logging.getLogger("mailconduit.runner")

MAX_ERROR = 2000
"""Longest error text kept (the rest is cut; the email log has the details)."""


def runner_id() -> str:
    """``host:pid`` of this process, the name a runner goes by in status and claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


class StatusBoard:
    """Writes the status rows of one runner's jobs.

    Args:
        store: the store the rows live in.
        runner: the runner's id (``host:pid``).
    """

    def __init__(self, store: Store, runner: str) -> None:
        self.store = store
        self.runner = runner

    def _update(self, kind: str, name: str, **values: Any) -> None:
        try:
            with self.store.session() as session:
                row = session.get(RunnerStatus, (kind, name))
                if row is None:
                    row = RunnerStatus(kind=kind, name=name, state="starting", runs=0, processed=0, failed=0)
                    session.add(row)
                for key, value in values.items():
                    setattr(row, key, value)
                row.runner = self.runner
                row.heartbeat_at = _now()
        except Exception:
            log.exception("could not record the status of %s %s; the job goes on", kind, name)

    def started(
        self, kind: str, name: str, *, account: str | None, folder: str | None, interval: float | None
    ) -> None:
        """A job started (or took over) in this runner."""
        self._update(kind, name, account=account, folder=folder, interval_seconds=interval, state="running")

    def standby(self, kind: str, name: str) -> None:
        """Another runner holds the job; this one waits to take over."""
        self._update(kind, name, state="standby")

    def ran(
        self,
        kind: str,
        name: str,
        *,
        mode: str | None,
        processed: int,
        failed: int,
        lag: int | None,
        token_expires_at: datetime | None = None,
    ) -> None:
        """A run finished: counts added, lag and mode recorded, the last error kept for history."""
        now = _now()
        try:
            with self.store.session() as session:
                row = session.get(RunnerStatus, (kind, name))
                if row is None:
                    row = RunnerStatus(kind=kind, name=name, state="running", runs=0, processed=0, failed=0)
                    session.add(row)
                row.runs = (row.runs or 0) + 1
                row.processed = (row.processed or 0) + processed
                row.failed = (row.failed or 0) + failed
                row.mode, row.lag, row.state = mode, lag, "running"
                row.last_run_at = row.last_success_at = now
                if token_expires_at is not None:
                    row.token_expires_at = token_expires_at
                row.runner, row.heartbeat_at = self.runner, now
        except Exception:
            log.exception("could not record the run of %s %s; the job goes on", kind, name)

    def alive(self, kind: str, name: str, *, mode: str, processed: int, failed: int) -> None:
        """A long-running job is working: its totals so far (set, not added) and a fresh last success."""
        now = _now()
        self._update(
            kind,
            name,
            state="running",
            mode=mode,
            processed=processed,
            failed=failed,
            last_run_at=now,
            last_success_at=now,
        )

    def failed(self, kind: str, name: str, error: BaseException | str) -> None:
        """A run or connection failed; the job retries (state ``error`` until the next success)."""
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._update(
            kind, name, state="error", last_error=text[:MAX_ERROR], last_error_at=_now(), last_run_at=_now()
        )

    def stalled(self, kind: str, name: str, reason: str) -> None:
        """The watchdog saw no completed run for too long."""
        self._update(kind, name, state="stalled", last_error=reason[:MAX_ERROR], last_error_at=_now())

    def token(self, kind: str, name: str, expires_at: datetime) -> None:
        """The job logged in with a bearer token that lapses at ``expires_at``."""
        self._update(kind, name, token_expires_at=expires_at)

    def beat(self, kind: str, name: str) -> None:
        """The job is alive (an IDLE wait, a sleep between polls)."""
        self._update(kind, name)

    def stopped(self, kind: str, name: str) -> None:
        """The job stopped because the runner stopped (not because it failed)."""
        self._update(kind, name, state="stopped")
