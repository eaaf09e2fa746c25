"""Socket, TLS and reader failures and ``-ERR`` replies as errors that say what, where and what to do.

RFC 3206 response codes decide whether a refusal is worth retrying: ``[IN-USE]``,
``[LOGIN-DELAY]`` and ``[SYS/TEMP]`` are temporary; ``[AUTH]``, ``[SYS/PERM]`` and anything
without a code are not.
"""

from __future__ import annotations

from typing import ClassVar

from attrs import frozen

from mailconduit import Endpoint, ProtocolError, ServerReplyError, TransportError, connection_error
from mailconduit_pop3._listing import MalformedReply, quote
from mailconduit_pop3._reader import ConnectionClosed, LimitExceeded

__all__ = ["TEMPORARY_CODES", "Where", "is_temporary", "reply_error", "translate"]

TEMPORARY_CODES = ("[IN-USE]", "[LOGIN-DELAY]", "[SYS/TEMP]")
"""RFC 2449 / RFC 3206 response codes that mean "try again later"."""


@frozen
class Where(Endpoint):
    """Where a failure happened: the account, the POP3 server and the timeout in force, for messages."""

    protocol: ClassVar[str] = "POP3"


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


def translate(exc: BaseException, where: Where, stage: str) -> TransportError:
    """Map ``exc``, raised during ``stage`` (``"connect"``, ``"RETR"`` ...), to a mailconduit error."""
    if isinstance(exc, LimitExceeded):
        sample = f" starting {quote(exc.sample)}" if exc.sample else ""
        return ProtocolError(
            f"{where}: hostile or broken reply to {stage}: {exc}{sample}; the connection was dropped "
            "(if the server is right, raise receive.max_message_size)"
        )
    if isinstance(exc, MalformedReply):
        return ProtocolError(f"{where}: malformed reply to {stage}: {exc}; the connection was dropped")
    # a peer that closes during the TLS handshake (a restart, a cut link) is lost, not a TLS failure
    error = connection_error(exc, where, stage, tls_eof_is_lost=True)
    if error is not None:
        return error
    if isinstance(exc, ConnectionClosed | OSError):
        return TransportError(f"{where}: connection lost during {stage} ({exc}); try again later")
    return ProtocolError(f"{where}: unexpected failure during {stage}: {type(exc).__name__}: {exc}")
