"""The pop3 transport passes the MailboxContract over POP3S, STLS and plain POP3 against Dovecot."""

from __future__ import annotations

from typing import ClassVar

import pytest

from mailconduit import Account, Credentials, ReceiveTransport, Secret, TlsMode
from mailconduit.testing import DovecotServer, MailboxContract, MailUser, canary
from mailconduit_pop3 import Pop3Transport

from .conftest import MakeAccount, credentials_of, port_for


class DovecotProbe:
    """The contract's view of the user's Maildir: deliveries go straight into it."""

    def __init__(self, dovecot: DovecotServer, user: MailUser) -> None:
        self.dovecot = dovecot
        self.user = user

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        self.dovecot.seed(self.user, [raw], folder)

    def create_folder(self, folder: str) -> None:
        self.dovecot.create_folder(self.user, folder)


class Pop3Contract(MailboxContract):
    has_uidvalidity = False
    supports_folders = False
    supports_move = False
    supports_idle = False
    tls: ClassVar[TlsMode]

    @pytest.fixture
    def transport(self) -> ReceiveTransport:
        return Pop3Transport()

    @pytest.fixture
    def account(self, dovecot: DovecotServer, make_account: MakeAccount) -> Account:
        return make_account(port_for(dovecot, self.tls), self.tls)

    @pytest.fixture
    def credentials(self, dovecot_user: MailUser) -> Credentials:
        return credentials_of(dovecot_user)

    @pytest.fixture
    def bad_credentials(self, dovecot_user: MailUser) -> Credentials:
        return Credentials(kind="password", username=dovecot_user.name, secret=Secret(canary("password")))

    @pytest.fixture
    def mail_server(self, dovecot: DovecotServer, dovecot_user: MailUser) -> DovecotProbe:
        return DovecotProbe(dovecot, dovecot_user)


class TestPop3s(Pop3Contract):
    tls = TlsMode.TLS


class TestPop3Stls(Pop3Contract):
    tls = TlsMode.STARTTLS


class TestPop3Plain(Pop3Contract):
    tls = TlsMode.NONE
