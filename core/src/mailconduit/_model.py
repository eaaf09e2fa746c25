"""The attrs value types of accounts and their settings, as the YAML describes them.

Every settings class is ``@define(frozen=True, kw_only=True)`` with the defaults DESIGN.md lists.
Secrets are ``Secret`` values (repr ``***``). Protocol-, auth- and provider-specific settings are
subclasses that plugins register; the base classes here carry the keys every variant shares and the
tag (``protocol``, ``method``, ``type``) that picks the variant.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, TypeVar

from attrs import define, field, validators

from mailconduit._secret import Secret

__all__ = [
    "Account",
    "AfterReplication",
    "AuthSettings",
    "Backoff",
    "FetchStrategy",
    "MoveTo",
    "OAuthProviderSettings",
    "PasswordAuth",
    "RateLimit",
    "ReceiveSettings",
    "RunnerSettings",
    "SendSettings",
    "TlsMode",
]

T = TypeVar("T")


class TlsMode(enum.StrEnum):
    """How a connection is protected: ``none`` (plain), ``starttls`` (upgrade) or ``tls`` (implicit)."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class FetchStrategy(enum.StrEnum):
    """Which messages a replication run takes first when it cannot take them all."""

    OLDEST = "oldest"
    LATEST = "latest"


@define(frozen=True)
class MoveTo:
    """After replication, move each replicated message to ``folder`` (which must exist)."""

    folder: str = field(validator=validators.min_len(1))


class AfterReplication(enum.StrEnum):
    """What happens on the server to a message once it is safely stored (besides ``MoveTo``)."""

    NONE = "none"
    DELETE = "delete"


def _positive(instance: object, attribute: Any, value: Any) -> None:
    if isinstance(value, timedelta) and value <= timedelta(0):
        raise ValueError(f"must be a positive duration, got {value}")


def _port(instance: object, attribute: Any, value: Any) -> None:
    if isinstance(value, int) and not 1 <= value <= 65535:
        raise ValueError(f"must be between 1 and 65535, got {value}")


@define(frozen=True, kw_only=True)
class Backoff:
    """Exponential backoff with jitter: the first wait is ``initial``, doubling up to ``max``."""

    initial: timedelta = field(default=timedelta(seconds=30), validator=_positive)
    max: timedelta = field(default=timedelta(hours=1), validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.max < self.initial:
            raise ValueError(f"max ({self.max}) must not be shorter than initial ({self.initial})")


@define(frozen=True)
class RateLimit:
    """At most ``count`` messages per ``per`` (``30/min`` in the YAML)."""

    count: int = field(validator=validators.ge(1))
    per: timedelta = field(validator=_positive)


@define(frozen=True, kw_only=True)
class AuthSettings:
    """Base of the ``auth:`` variants; ``method`` names a registered authenticator."""

    method: str


@define(frozen=True, kw_only=True)
class PasswordAuth(AuthSettings):
    """``auth: {method: password, username: ..., password: ${env:PW}}``; username defaults to the email."""

    method: str = "password"
    username: str | None = None
    password: Secret


@define(frozen=True, kw_only=True)
class OAuthProviderSettings:
    """Base of the ``oauth_providers`` entries; ``type`` names the plugin-registered variant."""

    type: str


@define(frozen=True, kw_only=True)
class _ConnectionSettings:
    protocol: str
    host: str = field(validator=validators.min_len(1))
    port: int | None = field(default=None, validator=_port)
    tls: TlsMode = TlsMode.TLS
    check_server_identity: bool = True
    timeout: timedelta = field(default=timedelta(seconds=20), validator=_positive)


@define(frozen=True, kw_only=True)
class SendSettings(_ConnectionSettings):
    """An account's ``send:`` section; a transport plugin may register a subclass with more keys."""

    ehlo_name: str | None = None
    max_attempts: int = field(default=1, validator=[validators.ge(1), validators.le(100)])
    backoff: Backoff = field(factory=Backoff)
    rate_limit: RateLimit | None = None
    max_sessions: int = field(default=1, validator=[validators.ge(1), validators.le(64)])
    send_on_behalf: bool = False


@define(frozen=True, kw_only=True)
class ReceiveSettings(_ConnectionSettings):
    """An account's ``receive:`` section; a transport plugin may register a subclass with more keys."""

    folder: str | None = None
    messages_per_run: int = field(default=50, validator=[validators.ge(1), validators.le(100_000)])
    replicate_everything: bool = False
    fetch_strategy: FetchStrategy = FetchStrategy.OLDEST
    after_replication: AfterReplication | MoveTo = AfterReplication.NONE
    subscribe: bool = False
    poll_every: timedelta = field(default=timedelta(minutes=5), validator=_positive)
    idle_refresh: timedelta = field(default=timedelta(minutes=20), validator=_positive)
    keepalive: timedelta = field(default=timedelta(minutes=5), validator=_positive)
    reconnect_backoff: Backoff = field(
        factory=lambda: Backoff(initial=timedelta(seconds=1), max=timedelta(minutes=5))
    )
    sanitize_html: bool = True
    render_inline_images: bool = True
    max_message_size: int = field(default=100 * 1024 * 1024, validator=validators.ge(1024))

    def __attrs_post_init__(self) -> None:
        if self.idle_refresh >= timedelta(minutes=29):
            raise ValueError(
                f"idle_refresh must be under 29m (RFC 2177 servers drop IDLE at 30m), got {self.idle_refresh}"
            )

    @property
    def effective_folder(self) -> str:
        """The folder to replicate: the configured one, else ``INBOX``."""
        return self.folder or "INBOX"


@define(frozen=True, kw_only=True)
class Account:
    """One mail account: who it is, how it authenticates, and how it sends and receives.

    Attributes:
        name: the key under ``accounts:`` in the YAML.
        email: the account's own address.
        auth: the authentication settings; ``auth.method`` names a registered authenticator.
        sections: plugin-owned per-account sections (``smime``, ``ldap``) by name.
    """

    name: str = field(validator=validators.min_len(1))
    email: str = field(validator=validators.min_len(3))
    auth: AuthSettings | None = None
    display_name: str | None = None
    shared_mailbox: str | None = None
    ca_file: str | None = None
    send: SendSettings | None = None
    receive: ReceiveSettings | None = None
    sections: Mapping[str, Any] = field(factory=dict)

    @property
    def mailbox(self) -> str:
        """The mailbox this account works on: the shared mailbox if set, else its own address."""
        return self.shared_mailbox or self.email

    def section(self, name: str, kind: type[T]) -> T | None:
        """Return the plugin-owned section ``name`` if configured, checked to be a ``kind``."""
        value = self.sections.get(name)
        if value is None:
            return None
        if not isinstance(value, kind):
            raise TypeError(f"section {name!r} of account {self.name!r} is a {type(value).__name__}")
        return value


@define(frozen=True, kw_only=True)
class RunnerSettings:
    """The ``runner:`` section: the long-running service's health endpoint and watchdog."""

    health_port: int | None = field(default=None, validator=_port)
    watchdog_intervals: int = field(default=3, validator=validators.ge(1))
