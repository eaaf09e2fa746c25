"""IMAP UID sets as pure functions: compress UIDs into ranges, cut them into short command lines, parse.

Servers refuse over-long command lines (Dovecot at 64 KB, some at 8 KB), so every UID set is cut
into chunks of at most ``max_uids`` UIDs whose text is at most ``max_bytes`` long.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["chunks", "compress", "parse"]

MAX_UIDS = 500
MAX_BYTES = 7000


def _ranges(uids: Iterable[int]) -> Iterator[tuple[int, int]]:
    ordered = sorted(set(uids))
    if not ordered:
        return
    start = end = ordered[0]
    for uid in ordered[1:]:
        if uid == end + 1:
            end = uid
            continue
        yield start, end
        start = end = uid
    yield start, end


def _text(start: int, end: int) -> str:
    return str(start) if start == end else f"{start}:{end}"


def compress(uids: Iterable[int]) -> str:
    """The UIDs as one sequence set, runs as ranges, ascending.

    >>> compress([5, 1, 2, 3, 9, 10, 3])
    '1:3,5,9:10'
    """
    for uid in uids:
        if uid < 1:
            raise ValueError(f"a UID is a positive integer, got {uid}")
    return ",".join(_text(s, e) for s, e in _ranges(uids))


def chunks(
    uids: Iterable[int], max_uids: int = MAX_UIDS, max_bytes: int = MAX_BYTES
) -> Iterator[tuple[str, list[int]]]:
    """Cut the UIDs (ascending) into sets of at most ``max_uids`` UIDs and ``max_bytes`` characters.

    Yields ``(set text, the UIDs in it)``.

    >>> list(chunks([1, 2, 3, 7], max_uids=2))
    [('1:2', [1, 2]), ('3,7', [3, 7])]
    """
    parts: list[str] = []
    members: list[int] = []
    size = 0
    for first, end in _ranges(uids):
        start = first
        while start <= end:
            room = max_uids - len(members)
            stop = min(end, start + room - 1)
            text = _text(start, stop)
            if members and (size + len(text) + 1 > max_bytes):
                yield ",".join(parts), members
                parts, members, size = [], [], 0
                continue
            parts.append(text)
            members.extend(range(start, stop + 1))
            size += len(text) + 1
            start = stop + 1
            if len(members) >= max_uids:
                yield ",".join(parts), members
                parts, members, size = [], [], 0
    if members:
        yield ",".join(parts), members


def parse(text: str, limit: int = 10_000_000) -> list[int]:
    """Expand a sequence set of UIDs (no ``*``), as an ESEARCH reply gives it; at most ``limit`` UIDs.

    >>> parse("1:3,7,10:9")
    [1, 2, 3, 7, 9, 10]
    """
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition(":")
        low, high = int(first), int(last or first)
        if low > high:
            low, high = high, low
        if low < 1 or len(out) + high - low + 1 > limit:
            raise ValueError(f"UID set part {part!r} is out of range")
        out.extend(range(low, high + 1))
    return out
