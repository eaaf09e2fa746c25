"""Fixtures of the pop3 plugin's tests: accounts pointing at the harness servers, credentials, probes.

The servers themselves (``dovecot``, ``dovecot_user``, ``scripted_server``, ``fault_proxy``,
``ca_pem``) come from ``mailconduit.testing``, which the repository's conftest enables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from mailconduit import Account, Credentials, Secret, TlsMode
from mailconduit.testing import DovecotServer, MailUser
from mailconduit_pop3 import Pop3Settings

MakeAccount = Callable[..., Account]


def crlf_message(n: int, body: bytes = b"") -> bytes:
    """A small CRLF message numbered ``n`` with lines that need dot-stuffing on the wire."""
    return (
        b"From: sender@example.test\r\nTo: user@example.test\r\n"
        + f"Subject: pop3 test {n}\r\nMessage-ID: <pop3-{n}@example.test>\r\n\r\n".encode()
        + f"body {n}\r\n.starts with a dot\r\n..two dots\r\n.\r\n".encode()
        + body
        + b"end\r\n"
    )


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
            name="inbox",
            email="inbox@example.test",
            ca_file=str(ca_pem) if ca_file == "default" else ca_file,
            receive=Pop3Settings(
                protocol="pop3",
                host=host,
                port=port,
                tls=TlsMode(tls),
                timeout=timedelta(seconds=timeout),
                **settings,
            ),
        )

    return make


def credentials_of(user: MailUser) -> Credentials:
    """Password credentials of a harness user."""
    return Credentials(kind="password", username=user.name, secret=Secret(user.password))


@pytest.fixture
def pop3_credentials(dovecot_user: MailUser) -> Credentials:
    """Password credentials of a fresh Dovecot user (its password is a K1 canary)."""
    return credentials_of(dovecot_user)


def port_for(dovecot: DovecotServer, tls: TlsMode) -> int:
    """The Dovecot port for ``tls``: POP3S for ``tls``, the STLS-capable one otherwise."""
    return dovecot.pop3s_port if tls is TlsMode.TLS else dovecot.pop3_port
