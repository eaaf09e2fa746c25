"""``GuardedIMAP4``: imaplib's IMAP4 with the guards the installed Pythons lack (RELIABILITY.md fact 1).

imaplib keeps the data path (its response parser measured 1.04x the raw limit on bulk UID FETCH);
this subclass replaces what makes it unsafe against a hostile server:

* its ``file`` is a :class:`~mailconduit_imap._reader.Reader`: bounded lines, capped and chunked
  literals, timeouts and drops as mailconduit errors;
* every command (and the greeting, each pipelined FETCH, each step of IDLE) has a deadline
  (:class:`mailconduit.CommandDeadline`, B3): a server dripping its reply is a ``TransportTimeout``
  naming the command, after which the connection is only dropped;
* untagged responses are budgeted per command (10^6 ``* n EXISTS`` is a ``ProtocolError``, not a
  growing list), counters keep only their latest value, and FETCH responses go to ``fetch_sink``
  (streamed to the caller) or are dropped, never accumulated;
* every command argument is checked for CR, LF and NUL before anything is sent (G1);
* :meth:`starttls_strict` refuses to go on in plaintext (H2), refuses bytes the server pipelined
  behind its "Begin TLS" reply (H3), and re-reads CAPABILITY inside TLS;
* :meth:`idle_wait` is IDLE (RFC 2177) bounded by a timeout, always left with DONE;
* imaplib's command log (which would keep the LOGIN line in memory) is switched off.
"""

from __future__ import annotations

import imaplib
import socket
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from typing_extensions import Buffer

from mailconduit import CommandClock, CommandDeadline, HeaderInjectionError, ProtocolError, TlsError
from mailconduit_imap._errmap import Where, printable, reply_error
from mailconduit_imap._reader import Reader

__all__ = ["MAX_LINE", "UNTAGGED_PER_COMMAND", "GuardedIMAP4"]

MAX_LINE = 4 << 20
"""The longest response line accepted (a SEARCH result of ~500,000 UIDs fits)."""
UNTAGGED_PER_COMMAND = 100_000
"""Untagged responses accepted per command beyond what the command itself asks for."""
_KEEP_ALL = frozenset({"LIST", "LSUB", "SEARCH", "ESEARCH", "EXPUNGE", "VANISHED"})

FetchSink = Callable[[Any], None]


def _label(name: str, args: tuple[Any, ...]) -> str:
    """How errors name a command: ``UID FETCH``, ``AUTHENTICATE PLAIN``; never other arguments."""
    if name in ("UID", "AUTHENTICATE") and args:
        word = args[0].decode("ascii", "replace") if isinstance(args[0], bytes) else str(args[0])
        if word.isascii() and word.replace("-", "").isalnum():
            return f"{name} {word.upper()}"
    return name


class GuardedIMAP4(imaplib.IMAP4):
    """imaplib.IMAP4 with bounded reads, argument checks and strict STARTTLS; see the module docstring."""

    def __init__(
        self,
        where: Where,
        *,
        context: ssl.SSLContext | None,
        implicit_tls: bool,
        max_literal: int,
        deadline: CommandDeadline | None = None,
    ) -> None:
        """Connect to ``where`` (TLS at once when ``implicit_tls``); read greeting and CAPABILITY.

        ``deadline`` bounds every command (default: ``CommandDeadline.default(where.timeout)``).
        """
        self.where = where
        self.clock = CommandClock(deadline or CommandDeadline.default(where.timeout), where, where.timeout)
        self._context = context
        self._implicit_tls = implicit_tls
        self._max_literal = max_literal
        self._untagged_left = UNTAGGED_PER_COMMAND
        self.fetch_sink: FetchSink | None = None
        self.extra_budget = 0
        super().__init__(where.host, where.port, where.timeout)

    # ------------------------------------------------------------------ transport
    def open(self, host: str = "", port: int = 143, timeout: float | None = None) -> None:
        """Connect (and wrap in TLS for implicit TLS); install the bounded reader."""
        self.host, self.port = host, port
        sock = socket.create_connection((host, port), timeout)
        if self._implicit_tls:
            assert self._context is not None
            try:
                sock = self._context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        self._install(sock)
        self.clock.start("greeting")

    def _install(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = Reader(sock, self.where, self.clock, max_line=MAX_LINE, max_literal=self._max_literal)
        self.file = cast(Any, self.reader)  # imaplib only closes it; every read goes through self.reader

    def read(self, size: int) -> bytes:
        """A literal of ``size`` bytes, capped and read in pieces."""
        return self.reader.read(size)

    def readline(self) -> bytes:
        """One response line, bounded."""
        return self.reader.readline()

    def send(self, data: Buffer) -> None:
        """Send ``data`` whole."""
        self.sock.sendall(data)

    def shutdown(self) -> None:
        """Close the socket; never raises."""
        try:
            self.reader.close()
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            self.sock.close()

    def _log(self, line: str) -> None:  # imaplib's in-memory command log would hold the LOGIN line
        pass

    def _mesg(self, s: str, secs: float | None = None) -> None:
        pass

    # ------------------------------------------------------------------ guards
    def _command(self, name: str, *args: Any) -> bytes:
        for position, arg in enumerate(args, 1):
            text = arg if isinstance(arg, bytes | bytearray) else str(arg).encode("utf-8", "replace")
            if any(c in text for c in (b"\r", b"\n", b"\0")):  # the value may be a secret: not quoted
                raise HeaderInjectionError(
                    f"IMAP {name} argument {position}",
                    "contains CR, LF or NUL, which would end the command line early (command injection)",
                )
        self._untagged_left = UNTAGGED_PER_COMMAND + self.extra_budget
        self.clock.start(_label(name, args))
        tag: bytes = imaplib.IMAP4._command(self, name, *args)  # type: ignore[attr-defined]
        return tag

    def _get_response(self) -> Any:
        try:
            return imaplib.IMAP4._get_response(self)  # type: ignore[attr-defined]
        except self.abort as exc:
            if str(exc).startswith("unexpected"):  # a reply to no command, or a foreign tag
                raise ProtocolError(
                    f"{self.where}: the server sent a reply that answers no command sent "
                    f"({printable(str(exc))}); a hostile or broken server, the connection is dropped"
                ) from None
            raise

    def _append_untagged(self, typ: str, dat: Any) -> None:
        self._untagged_left -= 1
        if self._untagged_left < 0:
            raise ProtocolError(
                f"{self.where}: the server sent more than {UNTAGGED_PER_COMMAND + self.extra_budget} "
                f"untagged responses ({typ}) to one command; a hostile or broken server, the "
                "connection is dropped"
            )
        if typ == "FETCH":
            if self.fetch_sink is not None:
                self.fetch_sink(dat)
            return  # unsolicited flag updates are not kept
        if dat is None:
            dat = b""
        if typ in _KEEP_ALL:
            self.untagged_responses.setdefault(typ, []).append(dat)
        else:  # counters and response codes: only the latest value matters
            self.untagged_responses[typ] = [dat]

    # ------------------------------------------------------------------ STARTTLS
    def starttls_strict(self, context: ssl.SSLContext) -> None:
        """Upgrade to TLS or raise ``TlsError``; nothing is ever sent in plaintext after a failure."""
        if self.state != "NONAUTH":
            raise TlsError(
                f"{self.where}: the server greeted with PREAUTH, so STARTTLS is impossible and the "
                "session would stay in plaintext; refusing (tls: starttls). Use tls: tls or fix the server"
            )
        if "STARTTLS" not in self.capabilities:
            raise TlsError(
                f"{self.where}: the server does not offer STARTTLS; refusing to continue in plaintext "
                "(tls: starttls). Check the port, or use tls: tls"
            )
        try:
            typ, dat = self._simple_command("STARTTLS")
        except self.error as exc:  # BAD
            typ, dat = "BAD", [str(exc).encode()]
        if typ != "OK":
            raise TlsError(
                f"{self.where}: STARTTLS refused ({typ} {printable(dat[-1] or b'')}); refusing to "
                "continue in plaintext (tls: starttls)"
            )
        reader = self.reader
        if reader.buffered():
            raise ProtocolError(
                f"{self.where}: the server sent {reader.buffered()} bytes after its STARTTLS reply, "
                "before the TLS handshake (STARTTLS response injection); the connection is dropped"
            )
        self.sock.settimeout(self.clock.read_timeout)  # the handshake: one timeout, not what a deadline left
        self._install(context.wrap_socket(self.sock, server_hostname=self.host))
        self.untagged_responses = {}
        self._tls_established = True
        self._get_capabilities()

    # ------------------------------------------------------------------ IDLE
    def idle_wait(self, timeout: float) -> bool:
        """IDLE until EXISTS/RECENT arrives or ``timeout`` passes; leave with DONE; True on new mail."""
        for typ in ("EXISTS", "RECENT"):
            self.untagged_responses.pop(typ, None)
        self._untagged_left = UNTAGGED_PER_COMMAND
        clock = self.clock
        clock.start("IDLE")
        tag = self._new_tag()
        self.send(tag + b" IDLE\r\n")
        while self._get_response() is not None:  # None: the "+ idling" continuation
            if self.tagged_commands[tag] is not None:
                typ, dat = self._get_tagged_response(tag)
                raise reply_error(self.where, "IDLE", typ, dat[-1] or b"")
        reader = self.reader
        deadline = time.monotonic() + timeout
        while not self._new_mail() and self.tagged_commands[tag] is None:
            left = deadline - time.monotonic()
            if left <= 0 or not reader.wait_readable(left):
                break
            clock.start("IDLE (an update while idling)")  # waiting for mail is not charged, reading it is
            self._get_response()
            self._check_bye()
        woke = self._new_mail()
        if self.tagged_commands[tag] is None:
            clock.start("IDLE (DONE)")
            self.send(b"DONE\r\n")
        typ, dat = self._get_tagged_response(tag)
        if typ != "OK":
            raise reply_error(self.where, "IDLE", typ, dat[-1] or b"")
        return woke

    def _new_mail(self) -> bool:
        recent = self.untagged_responses.get("RECENT") or [b"0"]
        return bool(self.untagged_responses.get("EXISTS")) or recent[-1] not in (b"0", b"")
