"""Turning socket, TLS and imaplib failures into mailconduit errors that say what, where and what to do.

The guards in ``_reader`` and ``_client`` raise mailconduit errors directly; imaplib wraps some of
them (a failed send becomes ``IMAP4.abort``), so :func:`translate` walks the exception chain and
returns the first mailconduit error it finds before classifying the rest.
"""

from __future__ import annotations

import socket
import ssl

from attrs import frozen

from mailconduit import ProtocolError, ServerReplyError, TlsError, TransportError, TransportTimeout

__all__ = ["Where", "printable", "reply_error", "translate"]


@frozen
class Where:
    """Where a failure happened: the account, the server and the timeout in force, for messages."""

    account: str
    host: str
    port: int
    timeout: float

    def __str__(self) -> str:
        return f"account {self.account!r}: IMAP server {self.host}:{self.port}"


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


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def translate(exc: BaseException, where: Where, stage: str) -> TransportError:
    """Map ``exc``, raised during ``stage`` (``"connect"``, ``"UID FETCH"`` ...), to a mailconduit error."""
    import imaplib  # only needed once a connection exists; plugin loading stays light

    chain = _chain(exc)
    for link in chain:
        if isinstance(link, TransportError):
            return link
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
    if isinstance(exc, imaplib.IMAP4.abort | OSError | EOFError):
        return TransportError(
            f"{where}: connection lost during {stage} ({printable(str(exc))}); try again later"
        )
    if isinstance(exc, imaplib.IMAP4.error):
        return ProtocolError(f"{where}: unexpected reply during {stage}: {printable(str(exc))}")
    return ProtocolError(
        f"{where}: unexpected failure during {stage}: {type(exc).__name__}: {printable(str(exc))}"
    )
