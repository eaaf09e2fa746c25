"""The value types of account set-up help: a server setting, a provider entry, a proposal."""

from __future__ import annotations

import enum
import re

from attrs import define, field

from mailconduit._model import TlsMode

__all__ = ["AuthKind", "Proposal", "Provider", "Server", "Source", "valid_host"]

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def valid_host(host: str) -> bool:
    """True for a DNS host name of letter-digit-hyphen labels (or a dotted IPv4 address).

    Names read from the network (autoconfig XML, SRV targets) pass this before they reach the YAML,
    so a hostile answer cannot smuggle YAML syntax or comments into the printed block.
    """
    host = host.removesuffix(".")
    if not host or len(host) > 253:
        return False
    return all(_LABEL.match(label) for label in host.split("."))


class AuthKind(enum.StrEnum):
    """How an account logs in, as far as set-up help can tell."""

    PASSWORD = "password"  # noqa: S105 (a kind of login, not a secret)
    """The mailbox password."""
    APP_PASSWORD = "app_password"  # noqa: S105 (a kind of login, not a secret)
    """A separate app password made in the provider's account settings (the normal password fails)."""
    BRIDGE_PASSWORD = "bridge_password"  # noqa: S105 (a kind of login, not a secret)
    """The password a local bridge (Proton Mail Bridge) shows, not the account's."""
    ENTRA_OAUTH = "entra_oauth"
    """OAuth 2.0 with Microsoft Entra ID (the ``entra_oauth`` plugin)."""
    OAUTH_UNSUPPORTED = "oauth"
    """OAuth 2.0 with an authority mailconduit has no plugin for."""


class Source(enum.StrEnum):
    """Where a proposal came from, most trusted first."""

    TABLE = "table"
    AUTOCONFIG = "autoconfig"
    SRV = "srv"
    MX = "mx"


@define(frozen=True, kw_only=True)
class Server:
    """One server setting: ``protocol`` (``smtp``, ``imap``, ``pop3``), host, port and TLS mode.

    Attributes:
        protocol: ``smtp`` for sending; ``imap`` or ``pop3`` for receiving.
        host: the host name.
        port: the TCP port.
        tls: ``tls`` (implicit), ``starttls`` or ``none``.
        username: the login name, or None for the account's address.
        oauth_only: the server takes only OAuth 2.0 (autoconfig said so).
    """

    protocol: str
    host: str
    port: int = field()
    tls: TlsMode
    username: str | None = None
    oauth_only: bool = False

    @port.validator
    def _check_port(self, _attribute: object, value: int) -> None:
        if not 1 <= value <= 65535:
            raise ValueError(f"port must be 1..65535, got {value}")

    def describe(self) -> str:
        """``imap imap.example.com:993 (tls)``."""
        return f"{self.protocol} {self.host}:{self.port} ({self.tls.value})"

    def as_dict(self) -> dict[str, object]:
        """The JSON form."""
        return {
            "protocol": self.protocol,
            "host": self.host,
            "port": self.port,
            "tls": self.tls.value,
            "username": self.username,
        }


@define(frozen=True, kw_only=True)
class Provider:
    """An entry of the built-in provider table.

    Attributes:
        key: a short id (``gmail``).
        name: the name shown to people.
        domains: address domains that belong to it.
        mx_suffixes: MX host suffixes that reveal it for other domains (Google Workspace, Exchange Online).
        receive: receive servers, preferred first.
        send: send servers, preferred first.
        auth: how accounts log in.
        quirks: what a user must know (one sentence each).
        rate_limit: a ``send.rate_limit`` that keeps within the provider's limits, e.g. ``30/min``.
        entra_tenant: for ``entra_oauth``: the tenant to use (None: the address's domain).
        ca_file_hint: a ``ca_file`` the user must supply (a local bridge's own certificate).
    """

    key: str
    name: str
    domains: tuple[str, ...] = ()
    mx_suffixes: tuple[str, ...] = ()
    receive: tuple[Server, ...]
    send: tuple[Server, ...]
    auth: AuthKind
    quirks: tuple[str, ...] = ()
    rate_limit: str | None = None
    entra_tenant: str | None = None
    ca_file_hint: str | None = None


@define(frozen=True, kw_only=True)
class Proposal:
    """Proposed settings for an address, with where they came from and what to watch out for.

    Attributes:
        address: the e-mail address asked about.
        source: which kind of source gave the settings.
        source_detail: the table entry, URL or DNS names consulted.
        provider: the table entry, when the provider is known (by domain or by MX).
        send: the proposed send server, if any.
        receive: the proposed receive server, if any.
        alternatives: other servers the source offered (POP3 besides IMAP, port 587 besides 465).
        auth: how to log in.
        quirks: provider quirks worth a comment.
        notes: what the lookups found or failed at (never fatal).
    """

    address: str
    source: Source
    source_detail: str
    provider: Provider | None = None
    send: Server | None = None
    receive: Server | None = None
    alternatives: tuple[Server, ...] = ()
    auth: AuthKind = AuthKind.PASSWORD
    quirks: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def domain(self) -> str:
        """The address's domain, lower case."""
        return self.address.rpartition("@")[2].lower()
