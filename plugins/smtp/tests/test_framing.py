"""DATA framing (C5) without a server: no bare CR/LF, every leading dot stuffed, nothing ends DATA early."""

from __future__ import annotations

import re
import smtplib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailconduit_smtp._framing import END_OF_DATA, frame, has_8bit, header_has_8bit, normalise_line_endings

# RELIABILITY.md C5 payloads, each inside a body
SMUGGLING = [
    b"bare CR\rin the middle",
    b"bare LF\nin the middle",
    b".leading dot",
    b"a\r\n.\r\nMAIL FROM:<evil@example.org>\r\n",
    b"a\n.\nRCPT TO:<evil@example.org>\n",
    b"a\r.\rDATA\r",
    b"a\r\n.\nQUIT\n",
    b"a\n.\r\nQUIT",
    b".\r\n",
    b"..\r\n...\r\n",
    b"\r\r\n\n\r",
    b"ends without newline.",
    b"",
]


def receive(wire: bytes) -> bytes:
    """What an RFC 5321 receiver makes of ``wire``: lines up to the first lone '.', unstuffed."""
    lines = wire.split(b"\r\n")
    content = []
    for line in lines:
        if line == b".":
            return b"".join(content)
        content.append((line[1:] if line.startswith(b".") else line) + b"\r\n")
    raise AssertionError("no end of data on the wire")


def lenient_receive(wire: bytes) -> bytes:
    """A receiver that (wrongly) also ends lines at a bare CR or LF: it must see the same end."""
    lines = re.split(rb"\r\n|\r|\n", wire)
    for index, line in enumerate(lines):
        if line == b".":
            return b"\r\n".join(lines[:index])
    raise AssertionError("no end of data on the wire")


@pytest.mark.parametrize("payload", SMUGGLING)
def test_payload_is_framed_safely(payload: bytes) -> None:
    data = b"Subject: x\r\n\r\n" + payload
    wire = frame(data)
    assert wire.endswith(b"\r\n" + END_OF_DATA) or wire == END_OF_DATA
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", wire) is None, "bare CR or LF on the wire"
    assert re.search(rb"\r\n\.(?!\.)[^\r]", wire) is None, "an unstuffed leading dot"
    # the first lone dot line is the very end, for strict and for lenient receivers
    assert wire.find(b"\r\n.\r\n") == len(wire) - 5
    expected = normalise_line_endings(data)
    expected += b"" if expected.endswith(b"\r\n") or not expected else b"\r\n"
    assert receive(wire) == expected
    assert lenient_receive(wire).count(b"\r\n") == expected.count(b"\r\n") - 1


def test_stdlib_smtplib_framing_would_fail_c5() -> None:
    """Why _framing exists: smtplib leaves bare CR/LF and does not stuff a dot after a bare CR."""
    stdlib = smtplib._quote_periods(b"a\r.\rDATA\r")  # type: ignore[attr-defined]
    assert b"\r.\r" in stdlib
    assert b"\r..\r" in frame(b"a\r.\rDATA\r").replace(b"\r\n", b"\r")


def test_existing_crlf_is_not_doubled() -> None:
    assert frame(b"a\r\nb\r\n") == b"a\r\nb\r\n.\r\n"
    assert normalise_line_endings(b"a\r\r\nb") == b"a\r\n\r\nb"


@given(
    st.binary(max_size=400)
    | st.lists(st.sampled_from([b"\r", b"\n", b".", b"x", b"\r\n"]), max_size=60).map(b"".join)
)
def test_any_bytes_round_trip(data: bytes) -> None:
    wire = frame(data)
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", wire) is None
    expected = normalise_line_endings(data)
    if expected and not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert receive(wire) == expected
    assert wire.find(b"\r\n.\r\n") in (-1, len(wire) - 5)


def test_8bit_detection() -> None:
    assert not has_8bit(b"plain ascii\r\n")
    assert has_8bit("Gr\u00fc\u00dfe".encode())
    assert header_has_8bit("Subject: Gr\u00fc\u00dfe\r\n\r\nbody".encode())
    assert not header_has_8bit("Subject: hi\r\n\r\nGr\u00fc\u00dfe".encode())
    assert not header_has_8bit("\r\nGr\u00fc\u00dfe".encode())
    assert header_has_8bit("Subject: \u00e4\nX: y\n\nbody".encode())
