"""Turning socket, TLS and smtplib failures into mailconduit errors that say what, where and what to do.

smtplib hides a read timeout inside ``SMTPServerDisconnected("Connection unexpectedly closed: timed
out")``; the original exception stays in ``__context__``, and :func:`mailconduit.connection_error`
walks the chain, so :func:`translate` reports a timeout as :class:`TransportTimeout`, never as a
plain disconnect.
"""

from __future__ import annotations

from typing import ClassVar

from attrs import frozen

from mailconduit import Endpoint, ProtocolError, ServerReplyError, TransportError, connection_error

__all__ = ["Where", "reply_error", "reply_text", "translate"]


@frozen
class Where(Endpoint):
    """Where a failure happened: the account, the SMTP server and the timeout in force, for messages."""

    protocol: ClassVar[str] = "SMTP"
    section: ClassVar[str] = "send"


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


def translate(exc: BaseException, where: Where, stage: str) -> TransportError:
    """Map ``exc``, raised during ``stage`` (``"connect"``, ``"RCPT TO"`` ...), to a mailconduit error.

    Timeouts, TLS, refused and unresolvable are :func:`mailconduit.connection_error`'s; the peer
    closing the connection mid-handshake is a lost connection, worth retrying.
    """
    import smtplib  # only needed once a connection exists; plugin loading stays light

    error = connection_error(
        exc, where, stage, tls_eof_is_lost=True, refused_check="that the server is running"
    )
    if error is not None:
        return error
    if isinstance(exc, smtplib.SMTPResponseException):
        return ProtocolError(
            f"{where}: malformed reply during {stage}: {reply_text(exc.smtp_code, exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return TransportError(f"{where}: connection lost during {stage} ({exc}); try again later")
    return ProtocolError(f"{where}: unexpected failure during {stage}: {type(exc).__name__}: {exc}")
