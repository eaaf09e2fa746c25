"""What a failed connection to a mail server means: the mailconduit error to raise and the key to report.

Transport plugins (smtp, imap, pop3) wrap a library (smtplib, imaplib) or read their own sockets;
either way a failure arrives as an ``OSError``, an ``ssl`` error or a timeout, often hidden in the
exception chain (smtplib reports a read timeout as ``SMTPServerDisconnected`` with the
``TimeoutError`` in ``__context__``). :func:`connection_error` walks the chain and turns what it
recognises into an error that says what, where and what to do; the plugin maps whatever is left
(its library's own errors, its reply codes). :func:`diagnose_connection` turns any error raised
while connecting, securing or logging in into one of the :data:`CONNECTION_PROBLEMS` keys that
``mailconduit check`` reports.
"""

from __future__ import annotations

import socket
import ssl
from typing import ClassVar

from attrs import frozen

from mailconduit._errors import (
    AuthenticationError,
    ConfigError,
    MessageError,
    ProtocolError,
    ServerReplyError,
    TlsError,
    TransportError,
    TransportTimeout,
)

__all__ = ["CONNECTION_PROBLEMS", "Endpoint", "connection_error", "diagnose_connection", "exception_chain"]

CONNECTION_PROBLEMS = {
    "timeout": "the server did not answer in time",
    "refused": "nothing listens on that host and port",
    "unresolvable": "the host name does not resolve",
    "tls_name_mismatch": "the certificate does not name the host",
    "tls_expired": "the certificate has expired or is not yet valid",
    "tls_untrusted": "the certificate is not issued by a trusted CA (set ca_file for a private CA)",
    "tls_failed": "TLS could not be set up (wrong port for the tls mode, STARTTLS missing or refused)",
    "auth_rejected": "the server refused the credentials or offers no usable login mechanism",
    "server_refused": "the server refused a command",
    "protocol": "the server's replies are malformed or hostile",
    "connection_lost": "the connection dropped",
    "config": "the account's settings are incomplete or invalid",
}
"""Every key :func:`diagnose_connection` returns, with what it means (a probe may reword some)."""

_NAME_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_EXPIRED = {9, 10}  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED


@frozen
class Endpoint:
    """Where a failure happened: the account, the server and the timeout in force, for messages.

    Its ``str`` starts every message: ``account 'support': IMAP server mail.example.com:993``. A
    transport plugin subclasses it to name its protocol and the account's settings section::

        @frozen
        class Where(Endpoint):
            protocol: ClassVar[str] = "SMTP"
            section: ClassVar[str] = "send"

    Attributes:
        account: the account's name.
        host: the server's host name or address.
        port: the server's port.
        timeout: the per-read timeout in force, in seconds (named in timeout messages).
    """

    protocol: ClassVar[str] = "mail"
    """The protocol's name in messages (``"IMAP"``)."""
    section: ClassVar[str] = "receive"
    """The account's settings section the messages point at (``"send"`` or ``"receive"``)."""

    account: str
    host: str
    port: int
    timeout: float

    def __str__(self) -> str:
        return f"account {self.account!r}: {self.protocol} server {self.host}:{self.port}"


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first (``__cause__``, else ``__context__``), each once."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connection_error(
    exc: BaseException,
    where: Endpoint,
    stage: str,
    *,
    tls_eof_is_lost: bool = False,
    refused_check: str = "that the server runs",
) -> TransportError | None:
    """The mailconduit error for a timeout, TLS, refused or unresolvable failure in ``exc``'s chain.

    A :class:`TransportError` is returned as it is (it already says what happened). Otherwise
    these are looked for in that order, anywhere in :func:`exception_chain`: a ``TimeoutError`` is a
    :class:`TransportTimeout` naming ``where.timeout``; a certificate or other ``ssl`` error a
    :class:`TlsError`; a refused connection or a host name that does not resolve a
    :class:`TransportError` pointing at ``<section>.host`` and ``<section>.port``.

    Args:
        exc: what was raised.
        where: the server, named in the message.
        stage: what was being done (``"connect"``, ``"UID FETCH"``, ``"RCPT TO"``).
        tls_eof_is_lost: treat the peer closing the connection during the TLS handshake
            (``SSLEOFError``, ``SSLZeroReturnError``) as a lost connection, worth retrying, rather
            than a TLS failure.
        refused_check: the end of the refused message's advice ("check ... and ``refused_check``").

    Returns:
        The error to raise, or None when ``exc`` is none of these (the caller maps the rest).
    """
    if isinstance(exc, TransportError):
        return exc
    chain = exception_chain(exc)
    section = where.section
    for link in chain:
        if isinstance(link, TimeoutError):
            return TransportTimeout(
                f"{where}: no answer within {where.timeout:g} s during {stage}; check that the server is "
                f"reachable and responsive, or raise {section}.timeout"
            )
    for link in chain:
        if tls_eof_is_lost and isinstance(link, ssl.SSLEOFError | ssl.SSLZeroReturnError):
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
                f"{where}: connection refused; check {section}.host and {section}.port and {refused_check}"
            )
        if isinstance(link, socket.gaierror):
            return TransportError(
                f"{where}: cannot resolve host name {where.host!r}: {link}; check {section}.host"
            )
    return None


def diagnose_connection(exc: BaseException) -> str:
    """The :data:`CONNECTION_PROBLEMS` key for an error raised while connecting, securing or logging in.

    >>> diagnose_connection(TransportTimeout("no answer"))
    'timeout'
    >>> diagnose_connection(ConnectionRefusedError(111, "Connection refused"))
    'refused'
    """
    causes = exception_chain(exc)
    if isinstance(exc, TransportTimeout) or any(isinstance(c, TimeoutError) for c in causes):
        return "timeout"
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            if cause.verify_code in _NAME_MISMATCH:
                return "tls_name_mismatch"
            return "tls_expired" if cause.verify_code in _EXPIRED else "tls_untrusted"
    if isinstance(exc, TlsError):
        return "tls_failed"
    if isinstance(exc, AuthenticationError):
        return "auth_rejected"
    if isinstance(exc, ServerReplyError):
        return "server_refused"
    if isinstance(exc, ProtocolError):
        return "protocol"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "refused"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "unresolvable"
    if isinstance(exc, ConfigError | MessageError):
        return "config"
    return "connection_lost"
