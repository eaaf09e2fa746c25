"""A small POP3 client on a plain socket: connect, TLS (POP3S or STLS), bounded replies, pipelining.

Why not poplib: poplib keeps multi-line replies as unbounded lists of lines, copies every message
line by line, cannot pipeline and verifies no certificate unless given a context. This client reads
through :class:`~mailconduit_pop3._reader.Reader` (bounded lines, listings and bodies), sends only
lines built by :func:`~mailconduit_pop3._commands.command_line` or the SASL builders, and keeps up
to :data:`PIPELINE_DEPTH` commands in flight when the server offers PIPELINING (RFC 2449).
Every command, and every reply of a pipeline, has a deadline (:class:`mailconduit.CommandDeadline`,
RELIABILITY.md B3): a server dripping its reply fails it with a ``TransportTimeout`` naming it.

Any failure other than a clean ``-ERR`` leaves the session in an unknown state, so the socket is
closed at once *without* QUIT: POP3 deletes only on QUIT (RFC 1939 section 6), so an aborted
session never commits a DELE.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TypeVar

from mailconduit import CommandClock, CommandDeadline, ProtocolError, ServerReplyError, TlsError, TlsMode
from mailconduit_pop3._errmap import Where, reply_error, translate
from mailconduit_pop3._listing import quote
from mailconduit_pop3._reader import Reader

__all__ = ["MAX_STATUS_LINE", "PIPELINE_DEPTH", "Pop3Client", "connect"]

log = logging.getLogger("mailconduit.pop3")
MAX_STATUS_LINE = 8192
"""Longest status line accepted (RFC 2449 allows 512 octets; poplib 2,048)."""
PIPELINE_DEPTH = 64
"""Commands kept in flight when the server offers PIPELINING."""
_CAPA_LINES = 200
_NAMED_WITH_ARGUMENT = frozenset({b"RETR", b"DELE", b"LIST", b"UIDL", b"TOP"})
R = TypeVar("R")


def _label(stage: str, line: bytes) -> str:
    """How errors name one pipelined command: ``RETR 7``; the stage alone for anything else."""
    words = line.split()
    if len(words) == 2 and words[0].upper() in _NAMED_WITH_ARGUMENT and words[1].isdigit():
        return f"{words[0].upper().decode()} {words[1].decode()}"
    return stage


class Pop3Client:
    """One POP3 connection. Build it with :func:`connect`."""

    def __init__(
        self, where: Where, sock: socket.socket, tls: bool, deadline: CommandDeadline | None = None
    ) -> None:
        """Wrap a connected socket (already TLS for POP3S).

        ``deadline`` bounds every command (default: ``CommandDeadline.default(where.timeout)``).
        """
        self.where = where
        self.sock: socket.socket | None = sock
        self.clock = CommandClock(deadline or CommandDeadline.default(where.timeout), where, where.timeout)
        self.reader = Reader(self._recv)
        self.tls = tls
        self.capabilities: dict[str, list[str]] | None = None
        """CAPA's answer (name -> arguments), None when the server has no CAPA."""

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def guard(self, stage: str) -> Iterator[None]:
        """Translate failures during ``stage``; anything but a clean ``-ERR`` aborts the connection."""
        if self.sock is None:
            raise ProtocolError(f"{self.where}: the connection is closed; open the mailbox again")
        try:
            yield
        except ServerReplyError:
            raise
        except BaseException as exc:
            self.abort()
            if isinstance(exc, GeneratorExit | KeyboardInterrupt | SystemExit):
                raise
            raise translate(exc, self.where, stage) from exc

    def _recv(self, size: int) -> bytes:
        """Up to ``size`` bytes, within the deadline of the command being read."""
        if self.sock is None:
            raise ConnectionAbortedError("the connection was closed")
        return self.clock.recv(self.sock, size)

    def send(self, data: bytes) -> None:
        """Send ``data`` (complete command lines)."""
        assert self.sock is not None
        self.sock.sendall(data)

    def status(self, stage: str) -> bytes:
        """Read one status line; return it (``+OK ...`` or ``+ ...``); raise on ``-ERR``."""
        line = self.reader.line(MAX_STATUS_LINE)
        if line.startswith(b"+"):
            return line
        if line.startswith(b"-ERR"):
            raise reply_error(self.where, stage, line)
        raise ProtocolError(f"{self.where}: reply to {stage} is neither +OK nor -ERR: {quote(line)}")

    def command_or_continuation(self, stage: str, line: bytes) -> bytes:
        """Send one line and return the ``+OK ...`` or ``+ ...`` reply (SASL steps)."""
        with self.guard(stage):
            self.clock.start(stage)
            self.send(line)
            return self.status(stage)

    def command(self, stage: str, line: bytes) -> bytes:
        """Send one command line and return its ``+OK`` line (``-ERR`` raises ``ServerReplyError``)."""
        reply = self.command_or_continuation(stage, line)
        if not reply.startswith(b"+OK"):
            self.abort()
            raise ProtocolError(f"{self.where}: unexpected continuation to {stage}: {quote(reply)}")
        return reply

    def multiline(self, stage: str, line: bytes, max_lines: int, max_line: int = 1024) -> list[bytes]:
        """Send a command with a multi-line answer (UIDL, LIST, CAPA) and return its lines."""
        self.command(stage, line)
        with self.guard(stage):
            return self.reader.lines(max_lines, max_line)

    def pipeline(self, stage: str, lines: Sequence[bytes], read: Callable[[], R], depth: int) -> Iterator[R]:
        """Send ``lines`` keeping up to ``depth`` in flight; yield ``read()`` for each, in order.

        ``read`` reads one complete reply. A ``ServerReplyError`` from it is raised after the replies
        still in flight have been read, so the session stays usable; if the caller stops early the
        rest are read and dropped.
        """
        sent = done = 0
        depth = max(1, depth)
        try:
            while done < len(lines):
                if sent < len(lines) and sent - done <= depth // 2:
                    batch = lines[sent : done + depth]
                    with self.guard(stage):
                        self.send(b"".join(batch))
                    sent += len(batch)
                with self.guard(stage):
                    self.clock.start(_label(stage, lines[done]))
                    result = read()
                done += 1
                yield result
        finally:
            self._drain(stage, sent - done, read)

    def _drain(self, stage: str, count: int, read: Callable[[], object]) -> None:
        for _ in range(count):
            if self.sock is None:
                return
            try:
                with self.guard(stage):
                    self.clock.start(f"{stage} (a reply left in the pipeline)")
                    read()
            except ServerReplyError:
                continue
            except Exception:  # guard aborted the connection; nothing more to read
                return

    # ------------------------------------------------------------------ session steps
    def capa(self) -> dict[str, list[str]] | None:
        """Ask CAPA (RFC 2449); store and return the capabilities, None when CAPA is refused."""
        try:
            lines = self.multiline("CAPA", b"CAPA\r\n", _CAPA_LINES)
        except ServerReplyError:
            self.capabilities = None
            return None
        caps: dict[str, list[str]] = {}
        for raw in lines:
            words = raw.decode("ascii", "replace").split()
            if words:
                caps[words[0].upper()] = [w.upper() for w in words[1:]]
        self.capabilities = caps
        return caps

    def starttls(self, context: ssl.SSLContext) -> None:
        """Upgrade with STLS (RFC 2595); a server without STLS, or refusing it, is a ``TlsError``.

        Bytes the server sent after its ``+OK`` and before the handshake (response injection, H3)
        are discarded, and CAPA is asked again over TLS.
        """
        caps = self.capabilities
        if caps is None or "STLS" not in caps:
            self.abort()
            raise TlsError(
                f"{self.where}: the server does not offer STLS, and the account asks for tls: starttls; "
                "nothing was sent in plaintext (use tls: tls on port 995, or fix the server)"
            )
        try:
            self.command("STLS", b"STLS\r\n")
        except ServerReplyError as exc:
            self.abort()
            raise TlsError(
                f"{self.where}: the server refused STLS ({exc.reply}); nothing was sent in plaintext"
            ) from None
        with self.guard("STLS handshake"):
            assert self.sock is not None
            self.sock.settimeout(self.clock.read_timeout)  # the handshake: one timeout, not a deadline's rest
            wrapped = context.wrap_socket(self.sock, server_hostname=self.where.host)
            self.sock = wrapped
            dropped = self.reader.attach(self._recv)
        if dropped:
            log.warning(
                "%s: dropped %d bytes sent before the TLS handshake (injection?)", self.where, dropped
            )
        self.tls = True
        self.capa()

    def quit(self) -> None:
        """Send QUIT (commits DELEs: RFC 1939 UPDATE state) and close; raises when it did not succeed."""
        try:
            self.command("QUIT", b"QUIT\r\n")
        finally:
            self.abort()

    def abort(self) -> None:
        """Close the socket at once, without QUIT (nothing is deleted); never raises."""
        sock, self.sock = self.sock, None
        if sock is not None:
            with suppress(OSError):
                sock.close()


def connect(
    where: Where, tls: TlsMode, context: ssl.SSLContext | None, deadline: CommandDeadline | None = None
) -> Pop3Client:
    """Connect, read the greeting, ask CAPA and secure the connection as ``tls`` says.

    ``deadline`` bounds the greeting and every command (see :class:`Pop3Client`).
    """
    stage = "connect"
    try:
        sock = socket.create_connection((where.host, where.port), timeout=where.timeout)
    except OSError as exc:
        raise translate(exc, where, stage) from exc
    try:
        if tls is TlsMode.TLS:
            assert context is not None
            sock = context.wrap_socket(sock, server_hostname=where.host)
    except BaseException as exc:
        sock.close()
        raise translate(exc, where, "TLS handshake") from exc
    client = Pop3Client(where, sock, tls is TlsMode.TLS, deadline)
    try:
        with client.guard("greeting"):
            client.clock.start("greeting")
            client.status("greeting")
        client.capa()
        if tls is TlsMode.STARTTLS:
            assert context is not None
            client.starttls(context)
    except BaseException:
        client.abort()
        raise
    return client
