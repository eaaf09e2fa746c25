"""The ``smtp`` send transport: turns an account and its credentials into an open :class:`SmtpSession`."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from mailconduit import (
    Account,
    ConfigError,
    Credentials,
    SendSettings,
    TlsMode,
    client_tls_context,
)
from mailconduit_smtp._envelope import check_ehlo_name
from mailconduit_smtp._errmap import Where
from mailconduit_smtp._settings import default_ehlo_name, effective_port

__all__ = ["SmtpTransport", "connection_plan", "open_client"]

if TYPE_CHECKING:  # smtplib is imported only when a connection is opened
    from mailconduit_smtp._client import SmtpClient
    from mailconduit_smtp._session import SmtpSession


def connection_plan(
    account: Account,
) -> tuple[SendSettings, Where, str | None, TlsMode, ssl.SSLContext | None]:
    """Check the account's ``send:`` section and derive what a connection needs.

    Returns the settings, where to connect, the EHLO name (None: the local address literal), the TLS
    mode and the verifying SSL context (None for ``tls: none``).
    """
    settings = account.send
    if settings is None:
        raise ConfigError(
            [(f"accounts.{account.name}.send", "is missing; the smtp transport needs host and tls")]
        )
    where = Where(
        account=account.name,
        host=settings.host,
        port=effective_port(settings),
        timeout=settings.timeout.total_seconds(),
    )
    if settings.ehlo_name is not None:
        ehlo_name: str | None = check_ehlo_name(settings.ehlo_name, f"accounts.{account.name}.send.ehlo_name")
    else:
        ehlo_name = default_ehlo_name()
    tls = TlsMode(settings.tls)
    context = None
    if tls is not TlsMode.NONE:
        context = client_tls_context(
            host=settings.host,
            check_server_identity=settings.check_server_identity,
            ca_file=account.ca_file,
            account=account.name,
        )
    return settings, where, ehlo_name, tls, context


def open_client(account: Account) -> SmtpClient:
    """Connect and secure a client for ``account`` (no login yet)."""
    from mailconduit_smtp._client import connect

    _settings, where, ehlo_name, tls, context = connection_plan(account)
    return connect(where, ehlo_name, tls, context)


class SmtpTransport:
    """Opens SMTP sessions: plain, STARTTLS or implicit TLS, always verified unless the account opts out.

    Register with ``register("smtp", SmtpTransport, settings=SmtpSettings)``.
    """

    def open(self, account: Account, credentials: Credentials | None) -> SmtpSession:
        """Connect, secure and (with ``credentials``) log in; return a session for many messages.

        Raises:
            ConfigError: the account has no ``send:`` section.
            HeaderInjectionError: ``send.ehlo_name`` holds CR, LF, NUL or a space.
            TlsError: certificate or host name not verified, or STARTTLS missing or refused.
            AuthenticationError: the server refused the credentials.
            TransportError: refused, lost or timed out (``TransportTimeout``).
        """
        from mailconduit_smtp._auth import authenticate
        from mailconduit_smtp._session import SmtpSession

        client = open_client(account)
        mechanism = None
        try:
            if credentials is not None:
                mechanism = authenticate(client, credentials)
        except BaseException:
            SmtpSession(client).close()
            raise
        return SmtpSession(client, mechanism)

    def probe(self, account: Account, credentials: Credentials | None) -> dict[str, Any]:
        """Check the connection without sending (``mailconduit check``); see ``mailconduit_smtp.probe``."""
        from mailconduit_smtp._probe import probe

        return probe(account, credentials)
