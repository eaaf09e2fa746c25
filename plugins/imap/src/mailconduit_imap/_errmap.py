"""Turning socket, TLS and imaplib failures into mailconduit errors that say what, where and what to do.

The guards in ``_reader`` and ``_client`` raise mailconduit errors directly; imaplib wraps some of
them (a failed send becomes ``IMAP4.abort``), so :func:`translate` walks the exception chain and
returns the first mailconduit error it finds before :func:`mailconduit.connection_error` and
imaplib's own errors classify the rest.
"""

from __future__ import annotations

from typing import ClassVar

from attrs import frozen

from mailconduit import (
    Endpoint,
    ProtocolError,
    ServerReplyError,
    TransportError,
    connection_error,
    exception_chain,
)

__all__ = ["Where", "printable", "reply_error", "translate"]


@frozen
class Where(Endpoint):
    """Where a failure happened: the account, the IMAP server and the timeout in force, for messages."""

    protocol: ClassVar[str] = "IMAP"


def printable(data: bytes | str, limit: int = 120) -> str:
    """A server reply as one short printable line (control characters as ``?``, cut at ``limit``)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray) else data
    text = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return text if len(text) <= limit else text[:limit] + "..."


def reply_error(where: Where, what: str, typ: str, reply: bytes | str) -> ServerReplyError:
    """A :class:`ServerReplyError` for a NO/BAD answer to ``what`` (``"SELECT 'Archive'"``).

    NO is temporary only when the server says so (``[UNAVAILABLE]``, ``[INUSE]``, ``[LIMIT]``).
    """
    text = printable(reply)
    temporary = typ == "NO" and any(code in text.upper() for code in ("[UNAVAILABLE]", "[INUSE]", "[LIMIT]"))
    advice = "it may succeed later" if temporary else "the server will refuse it again; fix the cause first"
    return ServerReplyError(
        f"{where}: {what} refused: {typ} {text} ({advice})", reply=f"{typ} {text}", temporary=temporary
    )


def translate(exc: BaseException, where: Where, stage: str) -> TransportError:
    """Map ``exc``, raised during ``stage`` (``"connect"``, ``"UID FETCH"`` ...), to a mailconduit error."""
    import imaplib  # only needed once a connection exists; plugin loading stays light

    for link in exception_chain(exc):
        if isinstance(link, TransportError):
            return link
    # a peer that closes during the TLS handshake (a restart, a cut link) is lost, not a TLS failure
    error = connection_error(exc, where, stage, tls_eof_is_lost=True)
    if error is not None:
        return error
    if isinstance(exc, imaplib.IMAP4.abort | OSError | EOFError):
        return TransportError(
            f"{where}: connection lost during {stage} ({printable(str(exc))}); try again later"
        )
    if isinstance(exc, imaplib.IMAP4.error):
        return ProtocolError(f"{where}: unexpected reply during {stage}: {printable(str(exc))}")
    return ProtocolError(
        f"{where}: unexpected failure during {stage}: {type(exc).__name__}: {printable(str(exc))}"
    )
