"""A per-account send rate limit: at most ``count`` messages in any window of length ``per``.

A sliding window (the times of the last ``count`` sends) rather than a token bucket with a burst:
with it no window of length ``per`` ever holds more than ``count`` sends, which is what a server's
"30 messages per minute" means. The clock is injected, so tests check the limit without sleeping.
The limit is per worker process; workers sharing a queue each honour it on their own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime

from mailconduit._model import RateLimit

__all__ = ["RateLimiter"]


class RateLimiter:
    """Admits sends while fewer than ``count`` happened in the last ``per``; thread-safe."""

    def __init__(self, limit: RateLimit, clock: Callable[[], datetime]) -> None:
        """Start with an empty window.

        Args:
            limit: the account's ``rate_limit``.
            clock: returns the current time (aware).
        """
        self._limit = limit
        self._clock = clock
        self._sent: deque[datetime] = deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        """Take a slot now and return 0.0, or return the seconds to wait before a slot frees up."""
        with self._lock:
            now = self._clock()
            horizon = now - self._limit.per
            while self._sent and self._sent[0] <= horizon:
                self._sent.popleft()
            if len(self._sent) < self._limit.count:
                self._sent.append(now)
                return 0.0
            wait = (self._sent[0] - horizon).total_seconds()
            return max(wait, 0.001)
