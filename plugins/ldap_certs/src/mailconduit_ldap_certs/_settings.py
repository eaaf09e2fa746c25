"""The ``ldap:`` section of an account: the directory to look recipient certificates up in."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from attrs import define, field, validators

from mailconduit import Secret, TlsMode

__all__ = ["LdapSettings", "SimpleBind", "effective_port"]


@define(frozen=True, kw_only=True)
class SimpleBind:
    """``bind: {user: ..., password: ...}``: a simple bind as ``user`` (a DN)."""

    user: str = field(validator=validators.min_len(1))
    password: Secret = field(repr=False)


@define(frozen=True, kw_only=True)
class LdapSettings:
    """An account's ``ldap:`` section.

    Attributes:
        host: the directory server.
        port: default 389 (636 with ``tls: tls``).
        tls: ``starttls`` (default), ``tls`` (LDAPS) or ``none``; certificates are always verified
            against the system's CAs plus the account's ``ca_file``.
        bind: ``anonymous`` (default) or ``{user, password}`` (password as a secret reference).
        base_dn: where to search; default the server's first naming context.
        timeout: connect and per-operation timeout.
        cache_for: how long an answer (found or not) is reused.
    """

    host: str = field(validator=validators.min_len(1))
    port: int | None = field(
        default=None, validator=validators.optional(validators.and_(validators.ge(1), validators.le(65535)))
    )
    tls: TlsMode = TlsMode.STARTTLS
    bind: Literal["anonymous"] | SimpleBind = "anonymous"
    base_dn: str | None = None
    timeout: timedelta = timedelta(seconds=10)
    cache_for: timedelta = timedelta(hours=1)


def effective_port(settings: LdapSettings) -> int:
    """The configured port, else 636 for ``tls: tls`` and 389 otherwise."""
    if settings.port is not None:
        return settings.port
    return 636 if TlsMode(settings.tls) is TlsMode.TLS else 389
