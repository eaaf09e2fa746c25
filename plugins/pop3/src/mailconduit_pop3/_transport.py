"""The ``pop3`` receive transport: turns an account and its credentials into an open :class:`Pop3Mailbox`."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mailconduit import Account, CommandDeadline, ConfigError, Credentials, TlsMode, client_tls_context
from mailconduit_pop3._errmap import Where
from mailconduit_pop3._settings import effective_port

if TYPE_CHECKING:
    from mailconduit_pop3._client import Pop3Client
    from mailconduit_pop3._mailbox import Pop3Mailbox

__all__ = ["Pop3Transport", "connection_plan", "open_client", "where_of"]

_REFRESH_MARGIN = timedelta(minutes=2)


def where_of(account: Account) -> Where:
    """Where ``account`` receives (account, host, port, timeout); ``ConfigError`` without ``receive:``."""
    settings = account.receive
    if settings is None:
        raise ConfigError(
            [(f"accounts.{account.name}.receive", "is missing; the pop3 transport needs host and tls")]
        )
    return Where(
        account=account.name,
        host=settings.host,
        port=effective_port(settings),
        timeout=settings.timeout.total_seconds(),
    )


def connection_plan(account: Account) -> tuple[Where, TlsMode, ssl.SSLContext | None]:
    """Where to connect, the TLS mode and a fresh verifying context (its opt-out warning: per connect)."""
    where = where_of(account)
    settings = account.receive
    assert settings is not None
    tls = TlsMode(settings.tls)
    context = None
    if tls is not TlsMode.NONE:
        context = client_tls_context(
            host=settings.host,
            check_server_identity=settings.check_server_identity,
            ca_file=account.ca_file,
            account=account.name,
        )
    return where, tls, context


def open_client(account: Account, credentials: Credentials | None) -> Pop3Client:
    """Connect, secure and (with ``credentials``) log in a client for ``account``.

    CAPA is asked again after the login, where servers may announce more (UIDL, PIPELINING).
    """
    from mailconduit_pop3._auth import login
    from mailconduit_pop3._client import connect

    where, tls, context = connection_plan(account)
    assert account.receive is not None
    client = connect(where, tls, context, CommandDeadline.of(account.receive))
    try:
        if credentials is not None:
            login(client, credentials)
            before = client.capabilities
            if client.capa() is None:
                client.capabilities = before
    except BaseException:
        client.abort()
        raise
    return client


class Pop3Transport:
    """Opens POP3 mailboxes: POP3S, STLS or plain (only with ``tls: none``), always verified.

    Register with ``register("pop3", Pop3Transport, settings=Pop3Settings)``.
    """

    def open(self, account: Account, credentials: Credentials | None) -> Pop3Mailbox:
        """Connect, secure and log in; return the mailbox (it reconnects itself after a delete).

        Raises:
            ConfigError: the account has no ``receive:`` section.
            TlsError: certificate or host name not verified, or STLS missing or refused.
            AuthenticationError: the server refused the credentials.
            HeaderInjectionError: CR, LF or NUL in the user name or password.
            TransportError: refused, lost or timed out (``TransportTimeout``).
        """
        from mailconduit_pop3._mailbox import Pop3Mailbox

        current = credentials

        def opener() -> Pop3Client:
            nonlocal current
            if (
                current is not None
                and current.refresher is not None
                and current.expires_within(_REFRESH_MARGIN, datetime.now(UTC))
            ):
                current = current.refresh()
            return open_client(account, current)

        return Pop3Mailbox(account, where_of(account), opener)
