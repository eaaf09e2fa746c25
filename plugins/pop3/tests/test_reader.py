r"""The bounded reader: dot-unstuffing across chunk boundaries, bounds on lines, listings and bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from mailconduit_pop3._reader import ConnectionClosed, LimitExceeded, Reader


def feeder(data: bytes, size: int) -> Callable[[int], bytes]:
    """A ``recv`` that hands out ``data`` ``size`` bytes at a time, then EOF; counts its calls."""
    chunks: Iterator[bytes] = iter([data[i : i + size] for i in range(0, len(data), size)])

    def recv(_n: int) -> bytes:
        return next(chunks, b"")

    return recv


def stuff(body: bytes) -> bytes:
    """The wire form of a CRLF body: dot-stuffed, terminated."""
    lines = body.split(b"\r\n")
    wire = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return wire + (b"" if body.endswith(b"\r\n") or not body else b"\r\n") + b".\r\n"


BODIES = [
    b"",
    b"\r\n",
    b"plain\r\n",
    b".\r\n",
    b"..\r\n",
    b".leading\r\nmiddle\r\n.dot\r\n..two\r\n...three\r\n",
    b"Subject: x\r\n\r\n" + b".line\r\n" * 5000,
    b"x" * 3_000_000 + b"\r\n.\r\n" + b"y" * 10 + b"\r\n",
]


# every body at every chunk size, except the 3 MB body at 1-7-byte chunks (millions of reads)
CHUNKINGS = [
    pytest.param(body, size, id=f"{index}-{size}")
    for index, body in enumerate(BODIES)
    for size in (1, 2, 3, 5, 7, 4096, 1 << 20)
    if len(body) <= 100_000 or size >= 4096
]


@pytest.mark.parametrize(("body", "size"), CHUNKINGS)
def test_body_is_unstuffed_exactly_at_any_chunking(body: bytes, size: int) -> None:
    wire = stuff(body) + b"+OK next\r\n"
    reader = Reader(feeder(wire, size))
    assert reader.body(10_000_000) == body
    assert reader.line(100) == b"+OK next"  # what follows is left for the next reply


def test_two_pipelined_bodies_in_one_chunk() -> None:
    wire = b"+OK\r\n" + stuff(b"one\r\n") + b"+OK\r\n" + stuff(b".two\r\n")
    reader = Reader(feeder(wire, 1 << 20))
    assert reader.line(100) == b"+OK" and reader.body(100) == b"one\r\n"
    assert reader.line(100) == b"+OK" and reader.body(100) == b".two\r\n"


def test_oversized_body_is_refused() -> None:
    reader = Reader(feeder(stuff(b"z" * 5000 + b"\r\n"), 1000))
    with pytest.raises(LimitExceeded, match="longer than 4000"):
        reader.body(4000)


def test_endless_body_is_refused_at_the_limit_not_at_eof() -> None:
    calls = 0

    def endless(n: int) -> bytes:
        nonlocal calls
        calls += 1
        return b"a line\r\n" * 8192

    with pytest.raises(LimitExceeded):
        Reader(endless).body(2_000_000)
    assert calls < 50  # stopped near 2 MB, not after reading forever


def test_long_line_is_refused_with_a_sample() -> None:
    reader = Reader(feeder(b"+OK " + b"x" * 100_000, 4096))
    with pytest.raises(LimitExceeded) as caught:
        reader.line(8192)
    assert caught.value.sample.startswith(b"+OK xxx")


def test_listing_over_its_line_budget_is_refused() -> None:
    reader = Reader(feeder(b"1 a\r\n2 b\r\n3 c\r\n.\r\n", 3))
    with pytest.raises(LimitExceeded, match="more than 2 lines"):
        reader.lines(2, 100)
    reader = Reader(feeder(b"1 a\r\n..x\r\n.\r\n", 3))
    assert reader.lines(2, 100) == [b"1 a", b".x"]


def test_eof_mid_reply_is_connection_closed() -> None:
    with pytest.raises(ConnectionClosed):
        Reader(feeder(b"half a mess", 4)).body(100)


def test_attach_drops_what_was_buffered() -> None:
    reader = Reader(feeder(b"+OK begin TLS\r\n+OK injected\r\n", 100))
    assert reader.line(100) == b"+OK begin TLS"
    assert reader.attach(feeder(b"+OK real\r\n", 100)) == len(b"+OK injected\r\n")
    assert reader.line(100) == b"+OK real"
