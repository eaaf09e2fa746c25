"""Turning socket, TLS and smtplib failures into mailconduit errors that say what, where and what to do.

smtplib hides a read timeout inside ``SMTPServerDisconnected("Connection unexpectedly closed: timed
out")``; the original exception stays in ``__context__``, so :func:`translate` walks the chain and
reports a timeout as :class:`TransportTimeout`, never as a plain disconnect.
"""

from __future__ import annotations

import socket
import ssl

from attrs import frozen

from mailconduit import ProtocolError, ServerReplyError, TlsError, TransportError, TransportTimeout

__all__ = ["Where", "reply_error", "reply_text", "translate"]


@frozen
class Where:
    """Where a failure happened: the account, the server and the timeout in force, for messages."""

    account: str
    host: str
    port: int
    timeout: float

    def __str__(self) -> str:
        return f"account {self.account!r}: SMTP server {self.host}:{self.port}"


def reply_text(code: int, message: bytes | str) -> str:
    """``"550 5.1.1 no such user"``: the reply as one printable line (control characters as ``?``)."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    text = " / ".join(part.strip() for part in text.splitlines() if part.strip())
    if not text.isprintable():  # a reply with control characters (rare): each one becomes '?'
        text = "".join(c if c.isprintable() else "?" for c in text)
    return f"{code} {text}".strip()


def reply_error(where: Where, stage: str, code: int, message: bytes | str) -> ServerReplyError:
    """A :class:`ServerReplyError` for a refused command; 4xx (and garbled codes) are temporary."""
    reply = reply_text(code, message)
    temporary = not 500 <= code < 600
    advice = "it may succeed later" if temporary else "the server will refuse it again; fix the cause first"
    return ServerReplyError(
        f"{where}: {stage} refused: {reply} ({advice})", code=code, reply=reply, temporary=temporary
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def translate(exc: BaseException, where: Where, stage: str) -> TransportError:
    """Map ``exc``, raised during ``stage`` (``"connect"``, ``"RCPT TO"`` ...), to a mailconduit error."""
    import smtplib  # only needed once a connection exists; plugin loading stays light

    if isinstance(exc, TransportError):
        return exc
    chain = _chain(exc)
    for link in chain:
        if isinstance(link, TimeoutError):
            return TransportTimeout(
                f"{where}: no answer within {where.timeout:g} s during {stage}; check that the server is "
                "reachable and responsive, or raise send.timeout"
            )
    for link in chain:
        if isinstance(link, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            # the peer closed the connection mid-handshake: a lost connection, worth retrying
            return TransportError(f"{where}: connection lost during {stage} ({link}); try again later")
        if isinstance(link, ssl.SSLCertVerificationError):
            reason = link.verify_message or str(link)
            return TlsError(
                f"{where}: the certificate of {where.host} failed verification during {stage}: {reason}; "
                "fix the server certificate, or set ca_file to the CA that issued it "
                "(check_server_identity: false turns all checks off, for testing only)"
            )
        if isinstance(link, ssl.SSLError):
            reason = link.reason or str(link)
            return TlsError(
                f"{where}: TLS with {where.host} failed during {stage}: {reason}; check that the port "
                "and the tls mode (none, starttls, tls) match the server"
            )
    for link in chain:
        if isinstance(link, ConnectionRefusedError):
            return TransportError(
                f"{where}: connection refused; check send.host and send.port and that the server is running"
            )
        if isinstance(link, socket.gaierror):
            return TransportError(
                f"{where}: cannot resolve host name {where.host!r}: {link}; check send.host"
            )
    if isinstance(exc, smtplib.SMTPResponseException):
        return ProtocolError(
            f"{where}: malformed reply during {stage}: {reply_text(exc.smtp_code, exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return TransportError(f"{where}: connection lost during {stage} ({exc}); try again later")
    return ProtocolError(f"{where}: unexpected failure during {stage}: {type(exc).__name__}: {exc}")
