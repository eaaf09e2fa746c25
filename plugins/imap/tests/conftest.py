"""Fixtures of the imap plugin's tests: accounts pointing at the harness servers, credentials with canaries.

The servers themselves (``dovecot``, ``scripted_server``, ``fault_proxy``, ``ca_pem``) come from
``mailconduit.testing``, which the repository's conftest enables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from mailconduit import Account, Credentials, Secret, TlsMode
from mailconduit.testing import DovecotServer, MailUser
from mailconduit_imap import ImapSettings

MakeAccount = Callable[..., Account]


@pytest.fixture
def make_account(ca_pem: Any) -> MakeAccount:
    """Build an account whose ``receive:`` reaches 127.0.0.1:``port`` (trusting the test CA by default)."""

    def make(
        port: int,
        tls: TlsMode | str = TlsMode.NONE,
        *,
        host: str = "127.0.0.1",
        ca_file: str | None = "default",
        timeout: float = 10.0,
        **settings: Any,
    ) -> Account:
        return Account(
            name="support",
            email="support@example.test",
            ca_file=str(ca_pem) if ca_file == "default" else ca_file,
            receive=ImapSettings(
                protocol="imap",
                host=host,
                port=port,
                tls=TlsMode(tls),
                timeout=timedelta(seconds=timeout),
                **settings,
            ),
        )

    return make


def credentials_of(user: MailUser) -> Credentials:
    """Password credentials for a harness user."""
    return Credentials(kind="password", username=user.name, secret=Secret(user.password))


@pytest.fixture
def user_credentials(dovecot_user: MailUser) -> Credentials:
    """Password credentials (a K1 canary) of a fresh Dovecot user."""
    return credentials_of(dovecot_user)


@pytest.fixture
def plain_account(dovecot: DovecotServer, make_account: MakeAccount) -> Account:
    """An account on the session Dovecot's cleartext port (tls: none)."""
    return make_account(dovecot.imap_port, TlsMode.NONE)
