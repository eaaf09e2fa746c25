"""A small expiring cache of directory answers (found and not found alike)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["ExpiringCache"]

V = TypeVar("V")


class ExpiringCache(Generic[V]):
    """``key -> value`` entries that expire ``ttl`` seconds after they were stored."""

    def __init__(
        self, ttl: float, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000
    ) -> None:
        """Keep entries for ``ttl`` seconds (by ``clock``), at most ``max_entries`` (oldest dropped)."""
        self.ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable) -> tuple[bool, V | None]:
        """``(True, value)`` for a live entry, else ``(False, None)`` (an expired one is dropped)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if self._clock() >= entry[0]:
                del self._entries[key]
                return False, None
            return True, entry[1]

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key`` until ``ttl`` from now."""
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self._clock() + self.ttl, value)
            while len(self._entries) > self._max:
                del self._entries[next(iter(self._entries))]

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
