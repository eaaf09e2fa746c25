"""TLS client contexts for every connection: verified by default, explicit opt-out warned about.

Python's smtplib, imaplib and poplib do not verify certificates unless given a context, and ldap3's
default ``Tls()`` does not either (RELIABILITY.md fact 2). Every transport builds its context here.
"""

from __future__ import annotations

import logging
import ssl

__all__ = ["client_tls_context"]

log = logging.getLogger("mailconduit.tls")


def client_tls_context(
    *, host: str, check_server_identity: bool = True, ca_file: str | None = None, account: str = ""
) -> ssl.SSLContext:
    """Return a client SSL context for connecting to ``host``.

    Args:
        host: the server's host name, used in the warning when checks are off.
        check_server_identity: verify the certificate chain and the host name (default). When False,
            neither is checked and a WARNING is logged on every call, naming the account and host.
        ca_file: extra trust anchors (PEM) for this account's servers, on top of the system's.
        account: the account's name, for the warning.

    The context requires TLS 1.2 or newer.
    """
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not check_server_identity:
        log.warning(
            "account %r: TLS certificate and host name checks are OFF for %s "
            "(check_server_identity: false); anyone on the path can read and change this connection",
            account,
            host,
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
