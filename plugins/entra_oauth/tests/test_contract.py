"""The entra_oauth authenticator passes the core's AuthenticatorContract (client credentials flow).

The app-only account needs no interactive sign-in: the real msal obtains a token from the local
Entra stand-in with a certificate credential, so every contract test talks to a real token endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailconduit import Account, Authenticator
from mailconduit.testing import AuthenticatorContract


class TestEntraOAuthContract(AuthenticatorContract):
    """Contract suite over the ``svc`` account of the ``env`` fixture (client credentials)."""

    # App-only XOAUTH2 names the mailbox itself as the SASL user (Exchange's rule), so there is no
    # separate login identity to keep; delegated shared mailboxes are covered in test_flows.py.
    supports_shared_mailbox = False

    @pytest.fixture
    def outbox(self, env: Any) -> Iterator[Any]:
        with env.outbox() as outbox:
            yield outbox

    @pytest.fixture
    def authenticator(self, outbox: Any) -> Authenticator:
        authenticator: Authenticator = outbox.plugins.authenticator("entra_oauth")
        return authenticator

    @pytest.fixture
    def account(self, outbox: Any) -> Account:
        account: Account = outbox.config.accounts["svc"]
        return account
