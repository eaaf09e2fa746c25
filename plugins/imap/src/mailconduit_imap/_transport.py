"""The ``imap`` receive transport: turns an account and its credentials into an open :class:`ImapMailbox`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailconduit import Account, CommandDeadline, ConfigError, Credentials, TlsMode, client_tls_context
from mailconduit_imap._errmap import Where
from mailconduit_imap._settings import effective_port

if TYPE_CHECKING:  # imaplib is imported only when a connection is opened
    from mailconduit_imap._mailbox import ImapMailbox

__all__ = ["ImapTransport"]


class ImapTransport:
    """Opens IMAP mailboxes: plain, STARTTLS or implicit TLS, always verified unless the account opts out.

    Register with ``register("imap", ImapTransport, settings=ImapSettings)``.
    """

    def open(self, account: Account, credentials: Credentials | None) -> ImapMailbox:
        """Connect, secure and (with ``credentials``) log in; return the mailbox.

        Raises:
            ConfigError: the account has no ``receive:`` section.
            TlsError: certificate or host name not verified, or STARTTLS missing or refused.
            AuthenticationError: the server refused the credentials.
            ProtocolError: the server's replies are malformed or hostile.
            TransportError: refused, lost or timed out (``TransportTimeout``).
        """
        from mailconduit_imap._client import GuardedIMAP4
        from mailconduit_imap._errmap import translate
        from mailconduit_imap._login import login
        from mailconduit_imap._mailbox import ImapMailbox

        settings = account.receive
        if settings is None:
            raise ConfigError(
                [(f"accounts.{account.name}.receive", "is missing; the imap transport needs host and tls")]
            )
        where = Where(
            account=account.name,
            host=settings.host,
            port=effective_port(settings),
            timeout=settings.timeout.total_seconds(),
        )
        tls = TlsMode(settings.tls)
        context = None
        if tls is not TlsMode.NONE:
            context = client_tls_context(
                host=settings.host,
                check_server_identity=settings.check_server_identity,
                ca_file=account.ca_file,
                account=account.name,
            )
        stage = "connect"
        try:
            client = GuardedIMAP4(
                where,
                context=context,
                implicit_tls=tls is TlsMode.TLS,
                max_literal=settings.max_message_size,
                deadline=CommandDeadline.of(settings),
            )
        except Exception as exc:
            error = translate(exc, where, stage)
            if error is exc:
                raise
            raise error from exc
        try:
            if tls is TlsMode.STARTTLS:
                stage = "STARTTLS"
                assert context is not None
                client.starttls_strict(context)
            if credentials is not None:
                stage = "login"
                login(client, credentials, where)
        except Exception as exc:
            client.shutdown()  # no LOGOUT: after a failed STARTTLS nothing more goes out in plaintext
            error = translate(exc, where, stage)
            if error is exc:
                raise
            raise error from exc
        return ImapMailbox(client, where)
