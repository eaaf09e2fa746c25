"""The cyclic garbage collector paused while a batch is replicated.

A batch allocates tens of thousands of short-lived container objects (scans, rows, outcomes),
which set off the collector's generation-0 and -1 passes over and over; those passes cost about a
tenth of a long replication run (PERFORMANCE.md) and free nothing that reference counting does not
free anyway. ``paused()`` turns the collector off for the batch and back on after it, counting
nested and concurrent users (several pipelines of one runner), so it is on again as soon as the
last batch under way ends, and only if it was on when the first began. Cyclic garbage made during
a batch is collected then.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused"]


class _Pause:
    """How many batches are under way, and whether the collector was on before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.was_enabled = False

    def enter(self) -> None:
        with self.lock:
            if self.users == 0:
                self.was_enabled = gc.isenabled()
                gc.disable()
            self.users += 1

    def leave(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.was_enabled:
                gc.enable()


_PAUSE = _Pause()


@contextmanager
def paused() -> Iterator[None]:
    """Run the body with the cyclic collector off (on again when the last concurrent user leaves)."""
    _PAUSE.enter()
    try:
        yield
    finally:
        _PAUSE.leave()
