"""The ``receive:`` settings of a POP3 account and the port derived from them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from attrs import define, field, validators

from mailconduit import ReceiveSettings, TlsMode

__all__ = ["DEFAULT_PORTS", "Pop3Settings", "effective_port"]

DEFAULT_PORTS = {TlsMode.NONE: 110, TlsMode.STARTTLS: 110, TlsMode.TLS: 995}
"""The port used when ``receive.port`` is not set, by TLS mode (RFC 1939, RFC 2595, RFC 8314)."""


def _positive_or_none(_instance: object, attribute: Any, value: timedelta | None) -> None:
    if value is not None and value <= timedelta(0):
        raise ValueError(f"{attribute.name} must be a positive duration, got {value}")


@define(frozen=True, kw_only=True)
class Pop3Settings(ReceiveSettings):
    """An account's ``receive:`` section with ``protocol: pop3``.

    POP3 needs no keys beyond those every receive transport has. When ``port`` is unset it is 110
    for ``tls: none`` and ``starttls`` (STLS) and 995 for ``tls`` (POP3S). POP3 has one mailbox and
    no folders: leave ``folder`` unset (or ``INBOX``); ``after_replication`` may be ``none`` or
    ``delete`` (``delete`` needs a server with UIDL), never a move.

    Every command must also finish within ``command_deadline`` plus one second per
    ``min_transfer_rate`` bytes it received (RELIABILITY.md B3, see ``mailconduit.CommandDeadline``):
    a server dripping its reply fails with a ``TransportTimeout`` naming the command, while a large
    message arriving at least at ``min_transfer_rate`` is never cut off. ``timeout`` bounds the
    connect and every single read.

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
