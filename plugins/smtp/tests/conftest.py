"""Fixtures of the smtp plugin's tests: accounts pointing at the harness servers, credentials with canaries.

The servers themselves (``smtp_server``, ``scripted_server``, ``fault_proxy``, ``ca_pem``) come from
``mailconduit.testing``, which the repository's conftest enables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from mailconduit import Account, Credentials, Secret, TlsMode
from mailconduit.testing import SmtpServer, canary
from mailconduit_smtp import SmtpSettings

MakeAccount = Callable[..., Account]


@pytest.fixture
def make_account(ca_pem: Any) -> MakeAccount:
    """Build an account whose ``send:`` reaches 127.0.0.1:``port`` (trusting the test CA by default)."""

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
            send=SmtpSettings(
                protocol="smtp",
                host=host,
                port=port,
                tls=TlsMode(tls),
                timeout=timedelta(seconds=timeout),
                **settings,
            ),
        )

    return make


@pytest.fixture
def smtp_user(smtp_server: SmtpServer) -> Credentials:
    """Password credentials of a new harness user whose password is a K1 canary."""
    user = smtp_server.add_user(password=canary("password"))
    return Credentials(kind="password", username=user.name, secret=Secret(user.password))
