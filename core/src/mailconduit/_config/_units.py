"""Parse the YAML's units: durations (``20s``, ``1h30m``), sizes (``100MB``) and rates (``30/min``).

Each parser returns the value or raises ``ValueError`` whose text says what was expected, so the
structuring hooks can report it at the key's path unchanged.
"""

from __future__ import annotations

import re
from datetime import timedelta

from mailconduit._model import RateLimit

__all__ = ["format_duration", "parse_duration", "parse_rate", "parse_size"]

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(?:\d+[smhd])+$")
_DURATION_PART = re.compile(r"(\d+)([smhd])")

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1024,
    "kib": 1024,
    "mb": 1024**2,
    "mib": 1024**2,
    "gb": 1024**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^(\d+)\s*([a-z]*)$")

_RATE_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^(\d+)\s*/\s*(\w+)$")


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def parse_duration(value: object) -> timedelta:
    """``20s``, ``5m``, ``1h``, ``1d`` or combinations such as ``1h30m`` -> ``timedelta``.

    Raises:
        ValueError: ``value`` is not such a text.
    """
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or isinstance(value, bool) or not _DURATION.match(text):
        raise ValueError(f"expected a duration like 20s, 5m, 1h or 1d, got {_show(value)}")
    seconds = sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest YAML spelling of ``value``: ``timedelta(minutes=90)`` -> ``1h30m``."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_size(value: object) -> int:
    """``100MB`` -> bytes (binary units: 1 KB = 1024 bytes); a plain integer is a count of bytes.

    Raises:
        ValueError: ``value`` is neither a non-negative integer nor a size text.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"expected a size like 100MB, got {value}")
        return value
    match = _SIZE.match(value.strip().lower()) if isinstance(value, str) else None
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"expected a size like 512KB, 100MB or 1GB, got {_show(value)}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_rate(value: object) -> RateLimit:
    """``30/min`` (or ``/s``, ``/h``, ``/day``, or a duration such as ``100/5m``) -> ``RateLimit``.

    Raises:
        ValueError: ``value`` is not such a text; a count below 1 is refused by ``RateLimit``.
    """
    match = _RATE.match(value.strip().lower()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a rate like 30/min, 500/h or 100/5m, got {_show(value)}")
    count, unit = int(match.group(1)), match.group(2)
    if unit in _RATE_UNITS:
        per = timedelta(seconds=_RATE_UNITS[unit])
    else:
        try:
            per = parse_duration(unit)
        except ValueError:
            raise ValueError(
                f"expected a rate like 30/min, 500/h or 100/5m, got {_show(value)}: "
                f"unknown unit {unit!r} (use s, min, h, day or a duration)"
            ) from None
    if count < 1:
        raise ValueError(f"the count of a rate must be at least 1, got {count}")
    if per <= timedelta(0):
        raise ValueError(f"the period of a rate must be positive, got {_show(value)}")
    return RateLimit(count, per)
