r"""DATA framing for SMTP as pure functions: line endings, dot-stuffing and the end-of-data mark (C5).

Why not ``smtplib.SMTP.data()``: given bytes, it stuffs a dot only after a bare or CRLF ``\\n``
(``re.sub(rb'(?m)^\\.', ...)``) and passes bare CR and bare LF through unchanged, so ``\\r.\\r``
reaches the server unstuffed and a receiver that treats a bare CR or LF as a line end can see the
data end early (SMTP smuggling). Our framing never sends a bare CR or LF:

1. **Every line ending is normalised to CRLF, on purpose**: ``\\r\\n``, a bare ``\\r`` and a bare
   ``\\n`` each become ``\\r\\n``. RFC 5322 forbids bare CR and LF in a message, so this is the one
   meaning such data can have on the wire; a ``\\r\\n`` that is already there is never doubled.
2. Every line that starts with ``.`` gets one more ``.`` (RFC 5321 section 4.5.2).
3. The data ends with CRLF (one is added if missing), then ``.\\r\\n``.

A receiver that removes the stuffed dots gets exactly :func:`normalise_line_endings` of the input.

:func:`frame_message` frames once and answers the 8-bit questions from the framed bytes (framing
adds only ASCII and keeps the empty line that ends the header section), so a send rewrites the line
endings at most once; data that already uses CRLF only and has no line starting with a dot is not
rewritten at all.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "END_OF_DATA",
    "Framed",
    "frame",
    "frame_message",
    "has_8bit",
    "header_has_8bit",
    "normalise_line_endings",
]

END_OF_DATA = b".\r\n"
"""What follows the (CRLF-terminated) content to end DATA."""

_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def normalise_line_endings(data: bytes) -> bytes:
    r"""Return ``data`` with every CRLF, bare CR and bare LF turned into CRLF.

    >>> normalise_line_endings(b"a\nb\rc\r\nd")
    b'a\r\nb\r\nc\r\nd'
    >>> normalise_line_endings(b"x\r\r\ny")
    b'x\r\n\r\ny'
    """
    crlf = data.count(b"\r\n")
    if data.count(b"\r") == crlf and data.count(b"\n") == crlf:
        return data  # CRLF only already: nothing to rewrite
    return _LINE_END.sub(b"\r\n", data)


def frame(data: bytes) -> bytes:
    r"""Return the bytes to send after the server's ``354``: normalised, dot-stuffed, terminated.

    >>> frame(b".hidden\n.\nend")
    b'..hidden\r\n..\r\nend\r\n.\r\n'
    >>> frame(b"")
    b'.\r\n'
    """
    body = normalise_line_endings(data)
    if body.startswith(b".") or b"\n." in body:
        body = _LEADING_DOT.sub(b"..", body)
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + END_OF_DATA


def has_8bit(data: bytes) -> bool:
    """True when ``data`` has any byte above 0x7F (it then needs ``BODY=8BITMIME``)."""
    return _NON_ASCII.search(data) is not None


def header_has_8bit(data: bytes) -> bool:
    """True when the header section (up to the first empty line) has a byte above 0x7F.

    Raw UTF-8 in headers (RFC 6532) needs the server's SMTPUTF8 extension.
    """
    return frame_message(data).header_has_8bit


class Framed(NamedTuple):
    """A message framed for DATA, with what its bytes need from the server."""

    data: bytes
    """What to send after ``354``: :func:`frame` of the message."""
    has_8bit: bool
    """Some byte is above 0x7F (``BODY=8BITMIME``)."""
    header_has_8bit: bool
    """Some byte of the header section is above 0x7F (``SMTPUTF8``)."""


def frame_message(data: bytes) -> Framed:
    r"""Frame ``data`` (:func:`frame`) and find its 8-bit bytes, rewriting the line endings at most once.

    >>> frame_message("Subject: \u00e4\n\nbody".encode())
    Framed(data=b'Subject: \xc3\xa4\r\n\r\nbody\r\n.\r\n', has_8bit=True, header_has_8bit=True)
    """
    framed = frame(data)
    if framed.isascii():  # the usual case, answered without a regex scan
        return Framed(framed, has_8bit=False, header_has_8bit=False)
    first = _NON_ASCII.search(framed)
    assert first is not None  # isascii() said there is a byte above 0x7F
    if framed.startswith(b"\r\n"):  # no header section at all
        return Framed(framed, has_8bit=True, header_has_8bit=False)
    end = framed.find(b"\r\n\r\n")
    return Framed(framed, has_8bit=True, header_has_8bit=end < 0 or first.start() < end)
