"""The ``receive:`` settings of a POP3 account and the port derived from them."""

from __future__ import annotations

from attrs import define

from mailconduit import ReceiveSettings, TlsMode

__all__ = ["DEFAULT_PORTS", "Pop3Settings", "effective_port"]

DEFAULT_PORTS = {TlsMode.NONE: 110, TlsMode.STARTTLS: 110, TlsMode.TLS: 995}
"""The port used when ``receive.port`` is not set, by TLS mode (RFC 1939, RFC 2595, RFC 8314)."""


@define(frozen=True, kw_only=True)
class Pop3Settings(ReceiveSettings):
    """An account's ``receive:`` section with ``protocol: pop3``.

    POP3 needs no keys beyond those every receive transport has. When ``port`` is unset it is 110
    for ``tls: none`` and ``starttls`` (STLS) and 995 for ``tls`` (POP3S). POP3 has one mailbox and
    no folders: leave ``folder`` unset (or ``INBOX``); ``after_replication`` may be ``none`` or
    ``delete`` (``delete`` needs a server with UIDL), never a move.
    """


def effective_port(settings: ReceiveSettings) -> int:
    """The port to connect to: the configured one, else the default for the TLS mode."""
    return settings.port if settings.port is not None else DEFAULT_PORTS[TlsMode(settings.tls)]
