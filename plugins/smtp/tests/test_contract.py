"""The smtp transport passes the SendTransportContract over STARTTLS, implicit TLS and plain SMTP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

from mailconduit import Account, Credentials, Secret, SendTransport, TlsMode
from mailconduit.testing import AcceptedMail, SendTransportContract, SmtpServer, canary
from mailconduit_smtp import SmtpTransport

from .conftest import MakeAccount


class HarnessProbe:
    """The contract's view of the aiosmtpd harness: what arrived, and scripted refusals."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    def received(self) -> Sequence[AcceptedMail]:
        return [
            AcceptedMail(envelope_from=m.mail_from, recipients=m.rcpt_tos, data=m.data)
            for m in self.server.messages
            if m.reply is not None and m.reply.startswith("250")
        ]

    def refuse_recipient(self, address: str) -> None:
        self.server.inject("RCPT", "550 5.1.1 no such user", times=None, match=address)

    def fail_next_message(self, code: int, reply: str) -> None:
        self.server.inject("DATA", f"{code} {reply}")


class SmtpContract(SendTransportContract):
    tls: ClassVar[TlsMode]

    @pytest.fixture
    def transport(self) -> SendTransport:
        return SmtpTransport()

    @pytest.fixture
    def account(self, smtp_server: SmtpServer, make_account: MakeAccount) -> Account:
        port = {
            TlsMode.NONE: smtp_server.plain_port,
            TlsMode.STARTTLS: smtp_server.starttls_port,
            TlsMode.TLS: smtp_server.tls_port,
        }[self.tls]
        return make_account(port, self.tls)

    @pytest.fixture
    def credentials(self, smtp_user: Credentials) -> Credentials:
        return smtp_user

    @pytest.fixture
    def bad_credentials(self, smtp_user: Credentials) -> Credentials:
        return Credentials(kind="password", username=smtp_user.username, secret=Secret(canary("password")))

    @pytest.fixture
    def send_server(self, smtp_server: SmtpServer) -> HarnessProbe:
        return HarnessProbe(smtp_server)


class TestSmtpStartTls(SmtpContract):
    tls = TlsMode.STARTTLS


class TestSmtpImplicitTls(SmtpContract):
    tls = TlsMode.TLS


class TestSmtpPlain(SmtpContract):
    tls = TlsMode.NONE
