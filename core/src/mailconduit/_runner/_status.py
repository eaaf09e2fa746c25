"""``read_status``: what ``mailconduit status`` and the health endpoint report, from the store alone.

Per pipeline: the runner running it, its state (running, standby, error, stalled, stopped), the
mode (IDLE or polling), the last run and last successful run, the lag (messages on the server not
yet stored, as of the last run), the last error and the token's expiry. Per sending account: the
outbox depth (queued messages) and the age of the oldest. A pipeline is ``healthy`` when its last
success is within ``watchdog_intervals`` of its interval and it is not in error; the whole report
is healthy when every pipeline is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from attrs import asdict, define, field
from sqlalchemy import func, select

from mailconduit._message import MessageStatus
from mailconduit._store import Store
from mailconduit._store._models import Direction, MessageRow, RunnerStatus

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["JobStatus", "OutboxStatus", "StatusReport", "read_status"]


@define(kw_only=True)
class JobStatus:
    """One pipeline's (or the outbox worker's) status.

    Attributes:
        kind: ``pipeline`` or ``outbox``.
        name: the pipeline's name (``outbox`` for the worker).
        account, folder: what the pipeline replicates.
        runner: ``host:pid`` of the runner that last reported it.
        state: running, standby, error, stalled, stopped, or ``never run``.
        mode: idle or polling (``worker`` for the outbox).
        interval_seconds: the pipeline's interval (IDLE refresh or polling interval).
        last_run_at, last_success_at: times (UTC) of the last run and of the last successful one.
        lag: messages on the server not yet stored, as of the last run.
        last_error, last_error_at: the last error and its time.
        token_expires_at: when the bearer token of its last login lapses.
        runs, processed, failed: totals since the row was created.
        healthy: recent success within the watchdog limit and not in error.
    """

    kind: str
    name: str
    account: str | None = None
    folder: str | None = None
    runner: str | None = None
    state: str = "never run"
    mode: str | None = None
    interval_seconds: float | None = None
    last_run_at: datetime | None = None
    last_success_at: datetime | None = None
    lag: int | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    token_expires_at: datetime | None = None
    runs: int = 0
    processed: int = 0
    failed: int = 0
    healthy: bool = False


@define(kw_only=True)
class OutboxStatus:
    """One account's outbox: how many messages wait and for how long."""

    account: str
    queued: int = 0
    failed: int = 0
    oldest_queued_at: datetime | None = None
    oldest_age_seconds: float | None = None


@define(kw_only=True)
class StatusReport:
    """The whole status: every pipeline, the outbox worker, every sending account's outbox."""

    generated_at: datetime
    pipelines: list[JobStatus] = field(factory=list)
    workers: list[JobStatus] = field(factory=list)
    outboxes: list[OutboxStatus] = field(factory=list)

    @property
    def healthy(self) -> bool:
        """Every pipeline is healthy."""
        return all(p.healthy for p in self.pipelines)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (times as ISO 8601 strings)."""

        def value(_inst: Any, _field: Any, v: Any) -> Any:
            return v.isoformat() if isinstance(v, datetime) else v

        return {
            "generated_at": self.generated_at.isoformat(),
            "healthy": self.healthy,
            "pipelines": [asdict(p, value_serializer=value) for p in self.pipelines],
            "workers": [asdict(w, value_serializer=value) for w in self.workers],
            "outboxes": [asdict(o, value_serializer=value) for o in self.outboxes],
        }


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


WORKERS_SHOWN_FOR = timedelta(hours=1)
"""A runner's outbox worker is listed while it reported within this time (dead runners drop out)."""


def _recent(value: datetime | None, now: datetime) -> bool:
    seen = _aware(value)
    return seen is not None and now - seen <= WORKERS_SHOWN_FOR


def _job(row: RunnerStatus, now: datetime, intervals: int) -> JobStatus:
    job = JobStatus(
        kind=row.kind,
        name=row.name,
        account=row.account,
        folder=row.folder,
        runner=row.runner,
        state=row.state,
        mode=row.mode,
        interval_seconds=row.interval_seconds,
        last_run_at=_aware(row.last_run_at),
        last_success_at=_aware(row.last_success_at),
        lag=row.lag,
        last_error=row.last_error,
        last_error_at=_aware(row.last_error_at),
        token_expires_at=_aware(row.token_expires_at),
        runs=row.runs or 0,
        processed=row.processed or 0,
        failed=row.failed or 0,
    )
    limit = timedelta(seconds=(row.interval_seconds or 300.0) * intervals)
    recent = job.last_success_at is not None and now - job.last_success_at <= limit
    job.healthy = recent and job.state in ("running", "standby")
    return job


def read_status(store: Store, config: Config, *, now: datetime | None = None) -> StatusReport:
    """The status of every configured pipeline and sending account, from the store."""
    now = now or datetime.now(UTC)
    intervals = config.runner.watchdog_intervals
    with store.session(readonly=True) as session:
        rows: Mapping[tuple[str, str], RunnerStatus] = {
            (r.kind, r.name): r for r in session.scalars(select(RunnerStatus))
        }
        depth = session.execute(
            select(
                MessageRow.account,
                MessageRow.status,
                func.count(),
                func.min(MessageRow.created_at),
            )
            .where(
                MessageRow.direction == Direction.OUTGOING,
                MessageRow.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.FAILED]),
            )
            .group_by(MessageRow.account, MessageRow.status)
        ).all()
    report = StatusReport(generated_at=now)
    for name, settings in config.pipelines.items():
        row = rows.get(("pipeline", name))
        if row is None:
            account = config.accounts.get(settings.receive)
            folder = settings.folder or (
                account.receive.effective_folder if account and account.receive else None
            )
            report.pipelines.append(
                JobStatus(kind="pipeline", name=name, account=settings.receive, folder=folder)
            )
        else:
            report.pipelines.append(_job(row, now, intervals))
    report.workers = [
        _job(r, now, intervals)
        for (kind, _), r in sorted(rows.items())
        if kind == "outbox" and _recent(r.heartbeat_at, now)
    ]
    outboxes = {n: OutboxStatus(account=n) for n, a in config.accounts.items() if a.send is not None}
    for sender, status, count, first in depth:
        entry = outboxes.setdefault(sender, OutboxStatus(account=sender))
        if status == MessageStatus.FAILED:
            entry.failed += count
            continue
        entry.queued += count
        oldest = _aware(first)
        if oldest is not None and (entry.oldest_queued_at is None or oldest < entry.oldest_queued_at):
            entry.oldest_queued_at = oldest
            entry.oldest_age_seconds = (now - oldest).total_seconds()
    report.outboxes = sorted(outboxes.values(), key=lambda o: o.account)
    return report
