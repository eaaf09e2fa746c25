"""Parsing UIDL, LIST and STAT replies strictly, as pure functions (RELIABILITY.md A9).

A malformed line is a :class:`MalformedReply` quoting it; the client turns that into a
``ProtocolError`` naming the account, so the replication run fails that account only. What counts
as malformed: a message number that is not a positive integer, is outside ``1..count`` (the STAT
count of this session) or repeats; a UIDL unique-id that is empty, longer than 70 characters or
holds characters outside ``0x21..0x7E`` (RFC 1939 section 7), or that two messages share (keying on
it would store one of them as the other); a size that is not a non-negative integer.
"""

from __future__ import annotations

import re

__all__ = ["MalformedReply", "parse_list", "parse_stat", "parse_uidl", "quote"]

_NUMBER = re.compile(rb"[1-9][0-9]{0,9}")
_SIZE = re.compile(rb"[0-9]{1,15}")
_UNIQUE_ID = re.compile(rb"[\x21-\x7e]{1,70}")


class MalformedReply(ValueError):
    """A reply line that does not follow RFC 1939; ``line`` holds the (shortened) offending line."""

    def __init__(self, what: str, line: bytes) -> None:
        self.line = line[:200]
        super().__init__(f"{what}: {quote(line)}")


def quote(line: bytes, limit: int = 200) -> str:
    r"""``line`` as a printable, shortened, quoted string for error messages.

    >>> quote(b"+OK 1 \x00x")
    "'+OK 1 ?x'"
    """
    text = line[:limit].decode("utf-8", "replace")
    printable = "".join(c if c.isprintable() else "?" for c in text)
    return repr(printable + ("..." if len(line) > limit else ""))


def parse_stat(line: bytes) -> tuple[int, int]:
    """``(count, size)`` from a STAT reply line without its ``+OK``.

    >>> parse_stat(b"2 320")
    (2, 320)
    """
    parts = line.split()
    if len(parts) < 2 or not _SIZE.fullmatch(parts[0]) or not _SIZE.fullmatch(parts[1]):
        raise MalformedReply("STAT reply is not '+OK count size'", b"+OK " + line)
    return int(parts[0]), int(parts[1])


def _number(token: bytes, count: int, seen: set[int], line: bytes, what: str) -> int:
    if not _NUMBER.fullmatch(token):
        raise MalformedReply(f"{what} line does not start with a message number", line)
    number = int(token)
    if number > count:
        raise MalformedReply(f"{what} line names message {number}, but STAT said there are {count}", line)
    if number in seen:
        raise MalformedReply(f"{what} lists message {number} twice", line)
    seen.add(number)
    return number


def parse_uidl(lines: list[bytes], count: int) -> dict[int, str]:
    """``{message number: unique-id}`` from the lines of a multi-line UIDL reply.

    >>> parse_uidl([b"1 whqtswO00WBw418f9t5JxYwZ", b"2 QhdPYR:00WBw1Ph7x7"], 2)
    {1: 'whqtswO00WBw418f9t5JxYwZ', 2: 'QhdPYR:00WBw1Ph7x7'}
    """
    result: dict[int, str] = {}
    owners: dict[bytes, int] = {}
    seen: set[int] = set()
    for line in lines:
        parts = line.split(b" ")
        if len(parts) != 2:
            raise MalformedReply("UIDL line is not 'number unique-id'", line)
        number = _number(parts[0], count, seen, line, "UIDL")
        if not _UNIQUE_ID.fullmatch(parts[1]):
            raise MalformedReply("UIDL unique-id must be 1-70 printable ASCII characters", line)
        if parts[1] in owners:
            raise MalformedReply(
                f"UIDL gives messages {owners[parts[1]]} and {number} the same unique-id", line
            )
        owners[parts[1]] = number
        result[number] = parts[1].decode("ascii")
    return result


def parse_list(lines: list[bytes], count: int) -> dict[int, int]:
    """``{message number: size in octets}`` from the lines of a multi-line LIST reply.

    >>> parse_list([b"1 120", b"2 200 extra"], 2)
    {1: 120, 2: 200}
    """
    result: dict[int, int] = {}
    seen: set[int] = set()
    for line in lines:
        parts = line.split(b" ")
        if len(parts) < 2:
            raise MalformedReply("LIST line is not 'number size'", line)
        number = _number(parts[0], count, seen, line, "LIST")
        if not _SIZE.fullmatch(parts[1]):
            raise MalformedReply("LIST size is not a number", line)
        result[number] = int(parts[1])
    return result
