"""Socket, TLS and reader failures and ``-ERR`` replies as errors that say what, where and what to do.

RFC 3206 response codes decide whether a refusal is worth retrying: ``[IN-USE]``,
``[LOGIN-DELAY]`` and ``[SYS/TEMP]`` are temporary; ``[AUTH]``, ``[SYS/PERM]`` and anything
without a code are not.
"""

from __future__ import annotations

import socket
import ssl

from attrs import frozen

from mailconduit import ProtocolError, ServerReplyError, TlsError, TransportError, TransportTimeout
from mailconduit_pop3._listing import MalformedReply, quote
from mailconduit_pop3._reader import ConnectionClosed, LimitExceeded

__all__ = ["TEMPORARY_CODES", "Where", "is_temporary", "reply_error", "translate"]

TEMPORARY_CODES = ("[IN-USE]", "[LOGIN-DELAY]", "[SYS/TEMP]")
"""RFC 2449 / RFC 3206 response codes that mean "try again later"."""


@frozen
class Where:
    """Where a failure happened: the account, the server and the timeout in force, for messages."""

    account: str
    host: str
    port: int
    timeout: float

    def __str__(self) -> str:
        return f"account {self.account!r}: POP3 server {self.host}:{self.port}"


def is_temporary(reply: bytes) -> bool:
    """True when an ``-ERR`` reply carries a response code that means "try again later".

    >>> is_temporary(b"-ERR [IN-USE] Mailbox is locked")
    True
    >>> is_temporary(b"-ERR [AUTH] Authentication failed")
    False
    """
    text = reply[4:].lstrip().upper()
    return any(text.startswith(code.encode()) for code in TEMPORARY_CODES)


def reply_error(where: Where, stage: str, reply: bytes, advice: str = "") -> ServerReplyError:
    """A :class:`ServerReplyError` for an ``-ERR`` reply to ``stage``, quoting the server."""
    temporary = is_temporary(reply)
    text = quote(reply)
    hint = advice or ("it may succeed later" if temporary else "the server will refuse it again")
    return ServerReplyError(f"{where}: {stage} refused: {text} ({hint})", reply=text, temporary=temporary)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def translate(exc: BaseException, where: Where, stage: str) -> TransportError:
    """Map ``exc``, raised during ``stage`` (``"connect"``, ``"RETR"`` ...), to a mailconduit error."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, LimitExceeded):
        sample = f" starting {quote(exc.sample)}" if exc.sample else ""
        return ProtocolError(
            f"{where}: hostile or broken reply to {stage}: {exc}{sample}; the connection was dropped "
            "(if the server is right, raise receive.max_message_size)"
        )
    if isinstance(exc, MalformedReply):
        return ProtocolError(f"{where}: malformed reply to {stage}: {exc}; the connection was dropped")
    chain = _chain(exc)
    for link in chain:
        if isinstance(link, TimeoutError):
            return TransportTimeout(
                f"{where}: no answer within {where.timeout:g} s during {stage}; check that the server is "
                "reachable and responsive, or raise receive.timeout"
            )
    for link in chain:
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
                f"{where}: connection refused; check receive.host and receive.port and that the server runs"
            )
        if isinstance(link, socket.gaierror):
            return TransportError(
                f"{where}: cannot resolve host name {where.host!r}: {link}; check receive.host"
            )
    if isinstance(exc, ConnectionClosed | OSError):
        return TransportError(f"{where}: connection lost during {stage} ({exc}); try again later")
    return ProtocolError(f"{where}: unexpected failure during {stage}: {type(exc).__name__}: {exc}")
