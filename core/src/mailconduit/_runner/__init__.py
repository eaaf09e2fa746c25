"""The long-running service: every pipeline and the outbox worker, its status, watchdog and health.

``Runner`` runs a configuration (``mailconduit run``); ``read_status`` reports what the runners
recorded in the store (``mailconduit status``, the health endpoint). See ``_jobs`` for how several
runners on PostgreSQL share the work.
"""

from __future__ import annotations

from mailconduit._runner._board import StatusBoard, runner_id
from mailconduit._runner._service import OnceResult, Runner
from mailconduit._runner._status import JobStatus, OutboxStatus, StatusReport, read_status
from mailconduit._runner._watchdog import PipelineStalled, Watchdog

__all__ = [
    "JobStatus",
    "OnceResult",
    "OutboxStatus",
    "PipelineStalled",
    "Runner",
    "StatusBoard",
    "StatusReport",
    "Watchdog",
    "read_status",
    "runner_id",
]
