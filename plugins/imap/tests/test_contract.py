"""The imap transport passes the MailboxContract over plain IMAP, STARTTLS and implicit TLS (Dovecot)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from mailconduit import Account, Credentials, ReceiveTransport, Secret, TlsMode
from mailconduit.testing import DovecotServer, MailboxContract, MailUser, canary
from mailconduit_imap import ImapTransport

from .conftest import MakeAccount, credentials_of


class DovecotProbe:
    """The contract's view of Dovecot: deliveries and folders written straight into the Maildir."""

    def __init__(self, server: DovecotServer, user: MailUser) -> None:
        self.server = server
        self.user = user

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        self.server.seed(self.user, [raw], folder)

    def create_folder(self, folder: str) -> None:
        self.server.create_folder(self.user, folder)


class ImapContract(MailboxContract):
    tls: ClassVar[TlsMode]

    @pytest.fixture
    def transport(self) -> ReceiveTransport:
        return ImapTransport()

    @pytest.fixture
    def account(self, dovecot: DovecotServer, make_account: MakeAccount) -> Account:
        port = dovecot.imaps_port if self.tls is TlsMode.TLS else dovecot.imap_port
        return make_account(port, self.tls)

    @pytest.fixture
    def credentials(self, dovecot_user: MailUser) -> Credentials:
        return credentials_of(dovecot_user)

    @pytest.fixture
    def bad_credentials(self, dovecot_user: MailUser) -> Credentials:
        return Credentials(kind="password", username=dovecot_user.name, secret=Secret(canary("password")))

    @pytest.fixture
    def mail_server(self, dovecot: DovecotServer, dovecot_user: MailUser) -> DovecotProbe:
        return DovecotProbe(dovecot, dovecot_user)


class TestImapPlain(ImapContract):
    tls = TlsMode.NONE


class TestImapStartTls(ImapContract):
    tls = TlsMode.STARTTLS


class TestImapImplicitTls(ImapContract):
    tls = TlsMode.TLS
