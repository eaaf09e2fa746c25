"""The ``send:`` settings of an SMTP account and the values derived from them (port, EHLO name)."""

from __future__ import annotations

import functools
import socket

from attrs import define

from mailconduit import SendSettings, TlsMode

__all__ = ["DEFAULT_PORTS", "SmtpSettings", "default_ehlo_name", "effective_port"]

DEFAULT_PORTS = {TlsMode.NONE: 25, TlsMode.STARTTLS: 587, TlsMode.TLS: 465}
"""The port used when ``send.port`` is not set, by TLS mode."""


@define(frozen=True, kw_only=True)
class SmtpSettings(SendSettings):
    """An account's ``send:`` section with ``protocol: smtp``.

    SMTP needs no keys beyond those every send transport has (``host``, ``port``, ``tls``,
    ``check_server_identity``, ``timeout``, ``ehlo_name`` ...). When ``port`` is unset it is 25 for
    ``tls: none``, 587 for ``starttls`` and 465 for ``tls``; ``ehlo_name`` defaults to the
    machine's fully qualified domain name (else the address literal of the local end).
    """


def effective_port(settings: SendSettings) -> int:
    """The port to connect to: the configured one, else the default for the TLS mode."""
    return settings.port if settings.port is not None else DEFAULT_PORTS[TlsMode(settings.tls)]


@functools.cache
def default_ehlo_name() -> str | None:
    """The machine's fully qualified domain name, or None when it has none (no dot, odd characters).

    With None the client greets with the address literal of its end of the connection
    (``[192.0.2.1]``), as RFC 5321 section 4.1.4 asks. Cached: ``socket.getfqdn`` may ask DNS.
    """
    fqdn = socket.getfqdn()
    if "." in fqdn and fqdn.isascii() and all(c.isalnum() or c in ".-" for c in fqdn):
        return fqdn
    return None
