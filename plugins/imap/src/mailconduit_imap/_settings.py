"""The ``receive:`` settings of an IMAP account and the values derived from them (port)."""

from __future__ import annotations

from attrs import define

from mailconduit import ReceiveSettings, TlsMode

__all__ = ["DEFAULT_PORTS", "ImapSettings", "effective_port"]

DEFAULT_PORTS = {TlsMode.NONE: 143, TlsMode.STARTTLS: 143, TlsMode.TLS: 993}
"""The port used when ``receive.port`` is not set, by TLS mode."""


@define(frozen=True, kw_only=True)
class ImapSettings(ReceiveSettings):
    """An account's ``receive:`` section with ``protocol: imap``.

    IMAP needs no keys beyond those every receive transport has (``host``, ``port``, ``tls``,
    ``check_server_identity``, ``timeout``, ``folder``, ``max_message_size`` ...). When ``port`` is
    unset it is 143 for ``tls: none`` and ``starttls`` and 993 for ``tls``. ``timeout`` bounds the
    connect and every read of every command; ``max_message_size`` caps any literal the server
    announces (a larger one is a ``ProtocolError``, never an allocation).
    """


def effective_port(settings: ReceiveSettings) -> int:
    """The port to connect to: the configured one, else the default for the TLS mode."""
    return settings.port if settings.port is not None else DEFAULT_PORTS[TlsMode(settings.tls)]
