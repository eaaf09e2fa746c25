"""The ``receive:`` settings of an IMAP account and the values derived from them (port)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from attrs import define, field, validators

from mailconduit import ReceiveSettings, TlsMode

__all__ = ["DEFAULT_PORTS", "ImapSettings", "effective_port"]

DEFAULT_PORTS = {TlsMode.NONE: 143, TlsMode.STARTTLS: 143, TlsMode.TLS: 993}
"""The port used when ``receive.port`` is not set, by TLS mode."""


def _positive_or_none(_instance: object, attribute: Any, value: timedelta | None) -> None:
    if value is not None and value <= timedelta(0):
        raise ValueError(f"{attribute.name} must be a positive duration, got {value}")


@define(frozen=True, kw_only=True)
class ImapSettings(ReceiveSettings):
    """An account's ``receive:`` section with ``protocol: imap``.

    Besides the keys every receive transport has (``host``, ``port``, ``tls``,
    ``check_server_identity``, ``timeout``, ``folder``, ``max_message_size`` ...), IMAP has the two
    keys of the per-command deadline. When ``port`` is unset it is 143 for ``tls: none`` and
    ``starttls`` and 993 for ``tls``. ``timeout`` bounds the connect and every single read;
    ``max_message_size`` caps any literal the server announces (a larger one is a
    ``ProtocolError``, never an allocation).

    Every command must also finish within ``command_deadline`` plus one second per
    ``min_transfer_rate`` bytes it received (RELIABILITY.md B3, see ``mailconduit.CommandDeadline``):
    a server dripping its reply fails with a ``TransportTimeout`` naming the command, while a large
    message arriving at least at ``min_transfer_rate`` is never cut off.

    Attributes:
        command_deadline: the time any command may take, whatever its size (default: three times
            ``timeout``, 60 s with the default 20 s).
        min_transfer_rate: bytes per second (``8KB``: 8,192) a reply must average to earn its
            time; each byte received extends the command's deadline by ``1 / min_transfer_rate`` s.
    """

    command_deadline: timedelta | None = field(default=None, validator=_positive_or_none)
    min_transfer_rate: int = field(default=8 * 1024, validator=validators.ge(1), metadata={"unit": "size"})


def effective_port(settings: ReceiveSettings) -> int:
    """The port to connect to: the configured one, else the default for the TLS mode."""
    return settings.port if settings.port is not None else DEFAULT_PORTS[TlsMode(settings.tls)]
