"""The cyclic garbage collector paused while a batch is replicated.

A batch allocates tens of thousands of short-lived container objects (scans, rows, outcomes),
which set off the collector's generation-0 and -1 passes over and over; those passes cost about a
tenth of a long replication run (PERFORMANCE.md) and free nothing that reference counting does not
free anyway. ``paused()`` turns the collector off for the batch and back on after it, counting
nested and concurrent users (several pipelines of one runner), so it is on again as soon as the
last batch under way ends, and only if it was on when the first began. Cyclic garbage made during
a batch is collected then; when batches of several pipelines overlap without a break, a batch that
ends collects at most every :data:`COLLECT_EVERY` seconds, so garbage cannot pile up meanwhile.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["COLLECT_EVERY", "paused"]

COLLECT_EVERY = 10.0
"""Seconds of overlapping batches after which a batch that ends runs a full collection."""


class _Pause:
    """How many batches are under way, and whether the collector was on before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.was_enabled = False
        self.collected = 0.0  # when the collector last ran (or was turned off)

    def enter(self) -> None:
        with self.lock:
            if self.users == 0:
                self.was_enabled = gc.isenabled()
                gc.disable()
                self.collected = time.monotonic()
            self.users += 1

    def leave(self) -> None:
        collect = False
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.was_enabled:
                gc.enable()
            elif self.users > 0 and self.was_enabled and time.monotonic() - self.collected >= COLLECT_EVERY:
                self.collected = time.monotonic()
                collect = True
        if collect:  # other batches are still under way: collect now rather than never
            gc.collect()


_PAUSE = _Pause()


@contextmanager
def paused() -> Iterator[None]:
    """Run the body with the cyclic collector off (on again when the last concurrent user leaves)."""
    _PAUSE.enter()
    try:
        yield
    finally:
        _PAUSE.leave()
