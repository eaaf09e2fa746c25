"""``probe``: connect, secure and log in without sending, and report what the server offers or what failed.

The future ``mailconduit check ACCOUNT`` prints this report. A failure is never raised: it is
diagnosed into ``problem`` (a short key) and ``diagnosis`` (the error's full text, which never holds a
secret).
"""

from __future__ import annotations

from typing import Any

from mailconduit import (
    CONNECTION_PROBLEMS,
    Account,
    ConfigError,
    Credentials,
    MessageError,
    TransportError,
    diagnose_connection,
)

__all__ = ["PROBLEMS", "probe"]

PROBLEMS = {
    **CONNECTION_PROBLEMS,
    "tls_untrusted": "the certificate is not issued by a trusted CA",
    "auth_rejected": "the server refused the credentials or offers no usable AUTH mechanism",
    "server_refused": "the server refused the greeting or EHLO",
    "config": "the account's send settings are incomplete or invalid",
}
"""Every ``problem`` key :func:`probe` can report (``mailconduit.diagnose_connection``'s), worded for SMTP."""


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
        problem = diagnose_connection(exc)
        report.update(problem=problem, explanation=PROBLEMS[problem], diagnosis=str(exc))
    finally:
        if client is not None:
            SmtpSession(client).close()
    return report
