"""A bounded, buffered reader of an IMAP connection: lines have a length limit, literals a size cap.

imaplib reads a literal with one ``file.read(size)`` of whatever size the server announces (a
``{1099511627776}`` greeting is a MemoryError, gh-119511) and reads lines up to 1 MB. This reader
replaces its ``file``:

* :meth:`Reader.readline` refuses a line longer than ``max_line`` without LF (``ProtocolError``);
* :meth:`Reader.read` refuses a literal larger than ``max_literal`` before reading any of it, reads
  in 1 MiB pieces, and puts a literal over ``spool_above`` bytes into a temporary file first, so a
  50 MB message costs about its own size in memory once, not twice;
* every ``recv`` goes through a :class:`mailconduit.CommandClock`: a wait longer
  than ``receive.timeout`` or a command past its deadline (a dripping server, B3) is a
  ``TransportTimeout``, an EOF or reset a ``TransportError``, all naming the server;
* :meth:`Reader.buffered` tells how many bytes arrived but were not consumed (STARTTLS injection).
"""

from __future__ import annotations

import select
import socket
import ssl
import tempfile

from mailconduit import CommandClock, ProtocolError, TransportError, TransportTimeout
from mailconduit_imap._errmap import Where

__all__ = ["Reader"]

PIECE = 1 << 20
_RECV = 1 << 18


class Reader:
    """Reads lines and literals from ``sock``; see the module docstring."""

    def __init__(
        self,
        sock: socket.socket,
        where: Where,
        clock: CommandClock,
        *,
        max_line: int,
        max_literal: int,
        spool_above: int = 8 * PIECE,
    ) -> None:
        self.sock = sock
        self.where = where
        self.clock = clock
        self.max_line = max_line
        self.max_literal = max_literal
        self.spool_above = spool_above
        self._buf = bytearray()
        self._pos = 0

    # ------------------------------------------------------------------ low level
    def _recv(self) -> bytes:
        try:
            data = self.clock.recv(self.sock, _RECV)
        except TransportError:  # the command's deadline passed
            raise
        except TimeoutError:
            raise TransportTimeout(
                f"{self.where}: no data within {self.clock.read_timeout:g} s during "
                f"{self.clock.command}; check that the server is reachable and responsive, or raise "
                "receive.timeout"
            ) from None
        except ssl.SSLError as exc:
            raise TransportError(
                f"{self.where}: TLS connection failed ({exc.reason or exc}); try again later"
            ) from None
        except OSError as exc:
            raise TransportError(f"{self.where}: connection lost ({exc}); try again later") from None
        if not data:
            raise TransportError(f"{self.where}: the server closed the connection; try again later")
        return data

    def _compact(self) -> None:
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0

    def buffered(self) -> int:
        """Bytes received but not consumed yet."""
        return len(self._buf) - self._pos

    def wait_readable(self, timeout: float) -> bool:
        """True when a read would not block: buffered bytes, TLS-pending bytes, or the socket is readable."""
        if self.buffered():
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        readable, _, _ = select.select([self.sock], [], [], max(timeout, 0.0))
        return bool(readable)

    # ------------------------------------------------------------------ what imaplib calls
    def readline(self, limit: int = -1) -> bytes:
        """One line including its CRLF; ``ProtocolError`` past ``max_line`` bytes without LF."""
        searched = self._pos
        while True:
            end = self._buf.find(b"\n", searched)
            if end >= 0:
                line = bytes(self._buf[self._pos : end + 1])
                self._pos = end + 1
                self._compact()
                return line
            searched = len(self._buf)
            if searched - self._pos > self.max_line:
                raise ProtocolError(
                    f"{self.where}: the server sent a line longer than {self.max_line} bytes without "
                    "an end; a hostile or broken server, the connection is dropped"
                )
            self._buf += self._recv()

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes (a literal); ``ProtocolError`` when ``size`` exceeds the cap."""
        if size > self.max_literal:
            raise ProtocolError(
                f"{self.where}: the server announced a literal of {size} bytes, more than the "
                f"{self.max_literal} allowed (receive.max_message_size); nothing was read. Raise "
                "receive.max_message_size if the server really holds such a message"
            )
        if size > self.spool_above:
            return self._read_spooled(size)
        have = self.buffered()
        if have >= size:
            data = bytes(self._buf[self._pos : self._pos + size])
            self._pos += size
            self._compact()
            return data
        out = bytearray(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        while len(out) < size:
            out += self._recv_piece(size - len(out))
        return bytes(out)

    def _recv_piece(self, left: int) -> bytes:
        data = self._recv() if left >= _RECV else self._recv_at_most(left)
        if len(data) > left:  # keep what belongs to the next response
            self._buf += data[left:]
            return data[:left]
        return data

    def _recv_at_most(self, left: int) -> bytes:
        try:
            data = self.clock.recv(self.sock, left)
        except TransportError:  # the command's deadline passed
            raise
        except TimeoutError:
            raise TransportTimeout(
                f"{self.where}: no data within {self.clock.read_timeout:g} s during "
                f"{self.clock.command}; raise receive.timeout"
            ) from None
        except OSError as exc:
            raise TransportError(f"{self.where}: connection lost ({exc}); try again later") from None
        if not data:
            raise TransportError(f"{self.where}: the server closed the connection; try again later")
        return data

    def _read_spooled(self, size: int) -> bytes:
        with tempfile.TemporaryFile(prefix="mailconduit-imap-", buffering=0) as spool:
            got = min(self.buffered(), size)
            spool.write(self._buf[self._pos : self._pos + got])
            self._pos += got
            self._compact()
            while got < size:
                piece = self._recv_piece(min(PIECE, size - got))
                spool.write(piece)
                got += len(piece)
            spool.seek(0)
            data = spool.read()  # one allocation of exactly the file's size
        if len(data) != size:
            raise TransportError(
                f"{self.where}: a literal of {size} bytes could not be spooled; try again later"
            )
        return data

    def close(self) -> None:
        """Drop the buffer (the socket is closed by its owner)."""
        self._buf = bytearray()
        self._pos = 0
