"""Wake the outbox workers of this process when mail was queued, instead of waiting for their poll.

A replication run that queued replies or forwards, and ``Outbox.queue``, call :func:`queued` after
their commit; a worker sleeping between polls (``Worker.sleep``) wakes up and claims at once. Other
processes still find the mail at their next poll, so this only shortens the wait, it never decides
whether mail is sent.
"""

from __future__ import annotations

import threading
import time

__all__ = ["queued", "sleep_until_queued"]

_QUEUED = threading.Event()
SLICE = 0.25
"""Longest single wait: ``stop`` is looked at at least this often."""


def queued() -> None:
    """Mail was committed to the outbox by this process: wake a sleeping worker."""
    _QUEUED.set()


def sleep_until_queued(seconds: float, stop: threading.Event) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set or mail is queued in this process meanwhile."""
    end = time.monotonic() + seconds
    while not stop.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return
        if _QUEUED.wait(min(left, SLICE)):
            _QUEUED.clear()
            return
