"""``probe``: connect, secure and log in without sending, and report what the server offers or what failed.

The future ``mailconduit check ACCOUNT`` prints this report. A failure is never raised: it is
diagnosed into ``problem`` (a short key) and ``diagnosis`` (the error's full text, which never holds a
secret).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from mailconduit import (
    Account,
    AuthenticationError,
    ConfigError,
    Credentials,
    MessageError,
    ProtocolError,
    ServerReplyError,
    TlsError,
    TransportError,
    TransportTimeout,
)

__all__ = ["PROBLEMS", "diagnose", "probe"]

PROBLEMS = {
    "timeout": "the server did not answer in time",
    "refused": "nothing listens on that host and port",
    "unresolvable": "the host name does not resolve",
    "tls_name_mismatch": "the certificate does not name the host",
    "tls_expired": "the certificate has expired or is not yet valid",
    "tls_untrusted": "the certificate is not issued by a trusted CA",
    "tls_failed": "TLS could not be set up (wrong port for the tls mode, STARTTLS missing or refused)",
    "auth_rejected": "the server refused the credentials or offers no usable AUTH mechanism",
    "server_refused": "the server refused the greeting or EHLO",
    "protocol": "the server's replies are malformed or hostile",
    "connection_lost": "the connection dropped",
    "config": "the account's send settings are incomplete or invalid",
}
"""Every ``problem`` key :func:`probe` can report, with what it means."""

_NAME_MISMATCH = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_EXPIRED = {9, 10}  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED


def _causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def diagnose(exc: BaseException) -> str:
    """The :data:`PROBLEMS` key for an error raised while connecting, securing or logging in."""
    causes = _causes(exc)
    if isinstance(exc, TransportTimeout):
        return "timeout"
    if isinstance(exc, TlsError):
        for cause in causes:
            if isinstance(cause, ssl.SSLCertVerificationError):
                if cause.verify_code in _NAME_MISMATCH:
                    return "tls_name_mismatch"
                return "tls_expired" if cause.verify_code in _EXPIRED else "tls_untrusted"
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


def probe(account: Account, credentials: Credentials | None) -> dict[str, Any]:
    """Connect to the account's SMTP server, secure the connection, log in, and report; never sends mail.

    Returns a dict with ``ok``; ``account``, ``host``, ``port``, ``tls``; on success (as far as it
    got) ``greeting``, ``extensions`` (EHLO keyword -> parameters), ``auth_mechanisms``,
    ``tls_version``, ``cipher``, ``certificate_subject``, ``certificate_issuer``,
    ``certificate_not_after``, ``authenticated`` and ``mechanism``; on failure ``problem`` (a
    :data:`PROBLEMS` key), ``explanation`` and ``diagnosis`` (the error text, naming host and reason).
    """
    from mailconduit_smtp._auth import authenticate
    from mailconduit_smtp._client import SmtpClient, connect
    from mailconduit_smtp._session import SmtpSession
    from mailconduit_smtp._transport import connection_plan

    report: dict[str, Any] = {"ok": False, "account": account.name, "authenticated": False}
    client: SmtpClient | None = None
    try:
        _settings, where, ehlo_name, tls, context = connection_plan(account)
        report.update(host=where.host, port=where.port, tls=tls.value)
        client = connect(where, ehlo_name, tls, context)
        report.update(
            greeting=client.greeting,
            extensions=dict(client.esmtp_features),
            auth_mechanisms=client.auth_mechanisms,
            **client.tls_facts,
        )
        if credentials is not None:
            report["mechanism"] = authenticate(client, credentials)
            report["authenticated"] = True
        report["ok"] = True
    except (TransportError, ConfigError, MessageError) as exc:
        problem = diagnose(exc)
        report.update(problem=problem, explanation=PROBLEMS[problem], diagnosis=str(exc))
    finally:
        if client is not None:
            SmtpSession(client).close()
    return report
