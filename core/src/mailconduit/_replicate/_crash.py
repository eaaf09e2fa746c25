"""Named boundaries of a replication run, and a checkpoint at each where tests inject a crash.

RELIABILITY.md A2: every boundary of a run has a name; a test sets a callback with
:func:`crash_points` that raises (a ``BaseException``, like a kill) at the boundary and message it
chooses, then reruns and compares the final store and server state with an uninterrupted run.
Without a callback a checkpoint costs one context-variable lookup.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["Boundary", "CrashCallback", "checkpoint", "crash_points"]


class Boundary(enum.StrEnum):
    """The boundaries of a run, in the order they are passed."""

    FETCHED = "fetched"  # per message: received from the server, nothing committed yet
    RAW_COMMITTED = "raw_committed"  # per batch: raw bytes and header scan committed (commit 1)
    STEPS_RUN = "steps_run"  # per message: transforms, parse and steps done, results not committed
    RESULTS_COMMITTED = "results_committed"  # per batch: results and pending changes committed (commit 2)
    SERVER_CHANGED = "server_changed"  # per batch: delete / move sent, not yet marked done
    CHANGES_MARKED = "changes_marked"  # per batch: pending changes marked applied
    STATE_ADVANCED = "state_advanced"  # per batch: folder state (last UID) advanced


PER_MESSAGE = frozenset({Boundary.FETCHED, Boundary.STEPS_RUN})
"""Boundaries passed once per message; the others once per batch (``message`` is None)."""

CrashCallback = Callable[[Boundary, int, "int | None"], None]
"""Called as ``callback(boundary, batch_number, message_index_or_None)``; raise to crash there."""

_CALLBACK: ContextVar[CrashCallback | None] = ContextVar("mailconduit_crash_points", default=None)


def checkpoint(boundary: Boundary, batch: int, message: int | None = None) -> None:
    """Pass ``boundary`` of batch ``batch`` (0-based) at ``message`` (0-based index in the batch)."""
    callback = _CALLBACK.get()
    if callback is not None:
        callback(boundary, batch, message)


@contextmanager
def crash_points(callback: CrashCallback) -> Iterator[None]:
    """Call ``callback`` at every boundary passed inside the block (in this thread / context)."""
    token = _CALLBACK.set(callback)
    try:
        yield
    finally:
        _CALLBACK.reset(token)
