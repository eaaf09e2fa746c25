r"""A bounded reader of POP3 responses: status lines, multi-line listings and message bodies.

poplib reads lines with a 2,048-byte cap (``_MAXLINE``: a longer line is ``error_proto``) but keeps
every line of a multi-line response in a list, with no bound on how many, and builds a message as a
list of lines joined again later. This reader works on a byte buffer filled by ``recv``:

* :meth:`Reader.line` refuses a line longer than its limit (:class:`LimitExceeded`) without
  reading further than that limit plus one chunk;
* :meth:`Reader.lines` (UIDL, LIST, CAPA) refuses more than ``max_lines`` lines;
* :meth:`Reader.body` (RETR) streams the response into one ``BytesIO``, removing the dot-stuffing
  (``\r\n..`` -> ``\r\n.``) a chunk at a time and stopping at ``\r\n.\r\n``; the message bytes are
  copied once, not once per line, and a body over ``limit`` bytes is refused.

A server closing the connection is :class:`ConnectionClosed`; a socket timeout propagates as
``TimeoutError``. The client turns these into mailconduit errors that name the account.
"""

from __future__ import annotations

import io
from collections.abc import Callable

__all__ = ["CHUNK", "ConnectionClosed", "LimitExceeded", "Reader"]

CHUNK = 256 * 1024
"""Bytes asked of ``recv`` at a time."""
_FLUSH = 1024 * 1024
_TERMINATOR = b"\r\n.\r\n"


class ConnectionClosed(Exception):
    """The server closed the connection before the response was complete."""


class LimitExceeded(Exception):
    """A line, listing or body was longer than allowed; ``args[0]`` says what, ``sample`` shows its start."""

    def __init__(self, what: str, sample: bytes = b"") -> None:
        super().__init__(what)
        self.sample = sample[:120]


class Reader:
    """Buffered, bounded reads from ``recv`` (a socket's ``recv``)."""

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        """Read through ``recv(n)``, which returns up to ``n`` bytes and ``b""`` at EOF."""
        self._recv = recv
        self._buf = bytearray()

    def attach(self, recv: Callable[[int], bytes]) -> int:
        """Read through a new ``recv`` (after STLS); drop what was buffered and return its size."""
        dropped = len(self._buf)
        self._buf.clear()
        self._recv = recv
        return dropped

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed."""
        return len(self._buf)

    def _fill(self) -> None:
        data = self._recv(CHUNK)
        if not data:
            raise ConnectionClosed("the server closed the connection")
        self._buf += data

    def line(self, limit: int) -> bytes:
        """One line without its CRLF (a bare LF is accepted as an end too).

        Raises:
            LimitExceeded: no line end within ``limit`` bytes.
        """
        scanned = 0
        while True:
            end = self._buf.find(b"\n", scanned)
            if end >= 0:
                if end > limit:
                    raise LimitExceeded(f"a line longer than {limit} bytes", bytes(self._buf[:120]))
                line = bytes(self._buf[:end])
                del self._buf[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buf) > limit:
                raise LimitExceeded(f"a line longer than {limit} bytes", bytes(self._buf[:120]))
            scanned = len(self._buf)
            self._fill()

    def lines(self, max_lines: int, max_line: int) -> list[bytes]:
        """The lines of a multi-line response up to the ``.`` line, dot-unstuffed.

        Raises:
            LimitExceeded: more than ``max_lines`` lines, or a line over ``max_line`` bytes.
        """
        result: list[bytes] = []
        while True:
            line = self.line(max_line)
            if line == b".":
                return result
            if len(result) >= max_lines:
                raise LimitExceeded(f"more than {max_lines} lines in a multi-line response", line)
            result.append(line[1:] if line.startswith(b".") else line)

    def body(self, limit: int) -> bytes:
        r"""The body of a multi-line response (RETR) up to ``\r\n.\r\n``, dot-unstuffed, CRLF kept.

        Raises:
            LimitExceeded: the body is longer than ``limit`` bytes.
        """
        out = io.BytesIO()
        first = True
        scan = 0
        while True:
            buf = self._buf
            if first and len(buf) < 3:  # every complete response has at least ".\r\n"
                self._fill()
                continue
            if first and buf.startswith(b".\r\n"):
                del buf[:3]
                return b""
            end = buf.find(_TERMINATOR, scan)
            if end >= 0:
                self._write(out, end + 2, first, limit)
                del buf[:3]  # the ".\r\n" left of the terminator
                return out.getvalue()
            cut = buf.rfind(b"\r\n") if len(buf) >= _FLUSH else -1
            if cut > 0:
                self._write(out, cut, first, limit)
                first = False
            if out.tell() + len(buf) > limit + len(_TERMINATOR):
                raise LimitExceeded(f"a message longer than {limit} bytes")
            scan = max(0, len(buf) - len(_TERMINATOR) + 1)
            self._fill()

    def _write(self, out: io.BytesIO, end: int, first: bool, limit: int) -> None:
        """Move ``buf[:end]`` into ``out`` without the dot-stuffing."""
        start = 1 if first and self._buf.startswith(b"..") else 0
        piece = self._buf[start:end]
        del self._buf[:end]
        if b"\r\n.." in piece:
            piece = piece.replace(b"\r\n..", b"\r\n.")
        if out.tell() + len(piece) > limit:
            raise LimitExceeded(f"a message longer than {limit} bytes")
        out.write(piece)
