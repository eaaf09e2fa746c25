"""The connection to an SMTP server: connect, greet, secure (implicit TLS or STARTTLS) and send commands.

A thin layer over :class:`smtplib.SMTP`, which reads and parses replies and EHLO keywords. What we
change, and why:

* Always an explicit ``ssl.SSLContext`` (from ``mailconduit.client_tls_context``) for implicit TLS
  and STARTTLS; smtplib would otherwise use an unverified one (RELIABILITY.md fact 2).
* Our own STARTTLS: a server that does not offer it, or refuses it, is a :class:`TlsError` and
  nothing else is sent (H2); bytes the server sends after ``220`` and before the handshake are a
  response-injection attempt and abort the connection (H3); EHLO is sent again afterwards.
* Every socket or smtplib failure becomes a mailconduit error through ``_errmap.translate``.
* smtplib's ``debuglevel`` stays 0: its debug output would contain the base64 AUTH blob.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from typing import Any

from mailconduit import ProtocolError, TlsError, TlsMode
from mailconduit_smtp._errmap import Where, reply_error, reply_text, translate

__all__ = ["SEND_CHUNK", "SmtpClient", "connect"]

SEND_CHUNK = 64 * 1024
"""Bytes per ``sendall`` while sending message data; the timeout applies to each chunk."""


class SmtpClient(smtplib.SMTP):
    """An ``smtplib.SMTP`` that reports failures as mailconduit errors; build it with :func:`connect`."""

    ehlo_msg = "EHLO"

    def __init__(self, where: Where, ehlo_name: str | None, implicit_tls: ssl.SSLContext | None) -> None:
        # local_hostname given, so smtplib does not call socket.getfqdn(); no host, so no connect yet
        super().__init__(local_hostname=ehlo_name or "localhost", timeout=where.timeout)
        self.where = where
        self._explicit_ehlo_name = ehlo_name
        self._implicit_tls = implicit_tls
        self._host = where.host
        self.tls_active = False
        self.greeting = ""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        if self._implicit_tls is None:
            return sock
        try:
            wrapped = self._implicit_tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.tls_active = True
        return wrapped

    # ------------------------------------------------------------------ commands
    def command(self, stage: str, cmd: str, args: str = "") -> tuple[int, bytes]:
        """Send one command line and return the reply; a failure closes the connection and raises."""
        try:
            self.putcmd(cmd, args)
            return self.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise translate(exc, self.where, stage) from exc

    def send_raw(self, stage: str, data: bytes) -> tuple[int, bytes]:
        """Send ``data`` as it is (framed DATA content) and return the reply that follows.

        Sent in chunks of :data:`SEND_CHUNK` bytes: ``socket.sendall`` applies the timeout to the
        whole call, so one call for a large message on a slow link would time out while data is
        still flowing. Per chunk, the timeout means "no progress for that long".
        """
        self.write(stage, data)
        return self.reply(stage)

    def write(self, stage: str, data: bytes) -> None:
        """Send ``data`` as it is, in chunks of :data:`SEND_CHUNK`; a failure closes and raises."""
        try:
            view = memoryview(data)
            for start in range(0, len(view), SEND_CHUNK):
                if self.sock is None:
                    raise smtplib.SMTPServerDisconnected("please run connect() first")
                self.sock.sendall(view[start : start + SEND_CHUNK])
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise translate(exc, self.where, stage) from exc

    def send_lines(self, stage: str, lines: Sequence[str]) -> None:
        """Send command lines in one write (RFC 2920 PIPELINING); read the replies with :meth:`reply`.

        Raises:
            ValueError: a line holds CR or LF (the callers check every value before, see ``_envelope``).
        """
        for line in lines:
            if "\r" in line or "\n" in line:
                raise ValueError(f"command line {line[:40]!r} contains CR or LF")
        self.write(stage, "".join(f"{line}\r\n" for line in lines).encode(self.command_encoding))

    def reply(self, stage: str) -> tuple[int, bytes]:
        """Read the next reply; a failure closes the connection and raises."""
        try:
            return self.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise translate(exc, self.where, stage) from exc

    def has(self, extension: str) -> bool:
        """True when the last EHLO offered ``extension`` (any case)."""
        return self.has_extn(extension)

    @property
    def auth_mechanisms(self) -> list[str]:
        """The SASL mechanisms the server offered, upper case, in its order."""
        return [m.upper() for m in str(self.esmtp_features.get("auth", "")).split()]

    def greet(self) -> None:
        """Send EHLO (HELO if the server refuses EHLO) and remember the offered extensions."""
        if self._explicit_ehlo_name is None and self.sock is not None:
            address = self.sock.getsockname()[0]
            self.local_hostname = f"[IPv6:{address}]" if ":" in address else f"[{address}]"
        stage = "EHLO"
        try:
            code, message = self.ehlo(self.local_hostname)
            if code not in {250, 421}:
                stage = "HELO"
                code, message = self.helo(self.local_hostname)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise translate(exc, self.where, stage) from exc
        if code != 250:
            self.close()
            raise reply_error(self.where, stage, code, message)
        self.command_encoding = "utf-8" if self.has_extn("smtputf8") else "ascii"

    def secure(self, context: ssl.SSLContext) -> None:
        """Upgrade with STARTTLS, refusing stripping (H2) and response injection (H3), then EHLO again."""
        if not self.has_extn("starttls"):
            self.close()
            raise TlsError(
                f"{self.where}: the server does not offer STARTTLS, which the account needs (tls: starttls); "
                "nothing was sent in plaintext. Someone may be stripping STARTTLS, or use tls: tls if the "
                "port speaks implicit TLS"
            )
        code, message = self.command("STARTTLS", "STARTTLS")
        if code != 220:
            self.close()
            refused = reply_error(self.where, "STARTTLS", code, message)
            raise TlsError(f"{refused}; nothing was sent in plaintext")
        if self._data_pending():
            self.close()
            raise ProtocolError(
                f"{self.where}: the server sent data after '220' to STARTTLS and before the TLS handshake "
                "(STARTTLS response injection); connection aborted, nothing acted on"
            )
        try:
            assert self.sock is not None
            self.sock = context.wrap_socket(self.sock, server_hostname=self.where.host)
        except (OSError, ValueError) as exc:
            self.close()
            raise translate(exc, self.where, "STARTTLS handshake") from exc
        self.tls_active = True
        self.file = None  # anything read before the handshake is dropped with the old reader
        self.helo_resp = self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        self.greet()

    def _data_pending(self) -> bool:
        """True when bytes beyond the last reply are buffered or waiting on the socket."""
        if self.sock is None or self.file is None:
            return False
        self.sock.setblocking(False)
        try:
            return bool(self.file.peek(1))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        finally:
            self.sock.settimeout(self.where.timeout)

    @property
    def tls_facts(self) -> dict[str, Any]:
        """TLS version, cipher and the verified peer certificate's subject and issuer (empty without TLS)."""
        sock = self.sock
        if not isinstance(sock, ssl.SSLSocket):
            return {}
        cert = sock.getpeercert() or {}

        def name(key: str) -> str:
            parts: Any = cert.get(key, ())
            return ", ".join(f"{k}={v}" for rdn in parts for (k, v) in rdn)

        cipher = sock.cipher()
        return {
            "tls_version": sock.version(),
            "cipher": cipher[0] if cipher else None,
            "certificate_subject": name("subject") or None,
            "certificate_issuer": name("issuer") or None,
            "certificate_not_after": cert.get("notAfter"),
        }


def connect(where: Where, ehlo_name: str | None, tls: TlsMode, context: ssl.SSLContext | None) -> SmtpClient:
    """Connect to ``where``, read the greeting, say EHLO and secure the connection as ``tls`` asks.

    Raises:
        TransportError: refused, lost or timed out (``TransportTimeout``); ``TlsError`` for any
            certificate, host-name or STARTTLS problem; ``ServerReplyError`` for a refusing greeting.
    """
    if tls is not TlsMode.NONE and context is None:
        raise ValueError(f"tls: {tls} needs an SSL context")
    client = SmtpClient(where, ehlo_name, context if tls is TlsMode.TLS else None)
    try:
        code, message = client.connect(where.host, where.port)
    except (OSError, smtplib.SMTPException) as exc:
        client.close()
        raise translate(
            exc, where, "connect" if tls is not TlsMode.TLS else "connect and TLS handshake"
        ) from exc
    if code != 220:
        client.close()
        raise reply_error(where, "greeting", code, message)
    client.greeting = reply_text(code, message)
    client.greet()
    if tls is TlsMode.STARTTLS:
        assert context is not None
        client.secure(context)
    return client
