"""The contract suite every authenticator passes: ``AuthenticatorContract``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

import attrs
import pytest

from mailconduit._errors import ConfigError
from mailconduit._model import Account, AuthSettings
from mailconduit._protocols import Authenticator
from mailconduit._secret import Secret
from mailconduit._testing.contract_base import missing_fixture
from mailconduit._types import Credentials

__all__ = ["AuthenticatorContract"]


class AuthenticatorContract:
    """Base class of authenticator tests; subclass it and override ``authenticator`` and ``account``.

    ``account`` must carry auth settings this authenticator accepts (and reach any token endpoint
    it needs). Capability flags: ``supports_shared_mailbox``. ``protocols`` lists the protocols
    asked for.
    """

    protocols: ClassVar[Sequence[str]] = ("smtp", "imap", "pop3")
    supports_shared_mailbox: ClassVar[bool] = True

    @pytest.fixture
    def authenticator(self) -> Authenticator:
        """The authenticator under test."""
        missing_fixture("authenticator", "the Authenticator under test")

    @pytest.fixture
    def account(self) -> Account:
        """An account whose ``auth`` settings this authenticator accepts."""
        missing_fixture("account", "an Account with auth settings for your authenticator")

    def test_gives_credentials_for_every_protocol(
        self, authenticator: Authenticator, account: Account
    ) -> None:
        """``credentials`` returns ``Credentials`` of kind password or bearer for each protocol.

        How to fix: return ``Credentials(kind=..., username=..., secret=Secret(...))``; a bearer
        token also sets ``expires_at`` (UTC).
        """
        for protocol in self.protocols:
            credentials = authenticator.credentials(account, protocol)
            assert isinstance(credentials, Credentials)
            assert credentials.kind in ("password", "bearer")
            assert credentials.username
            assert isinstance(credentials.secret, Secret)
            if credentials.kind == "bearer":
                assert credentials.expires_at is not None
                assert credentials.expires_at.tzinfo is not None

    def test_secret_stays_out_of_reprs(self, authenticator: Authenticator, account: Account) -> None:
        """Neither ``repr`` nor ``str`` of the credentials shows the password or token.

        How to fix: keep the secret in a ``mailconduit.Secret``; never in a plain ``str`` field.
        """
        credentials = authenticator.credentials(account, self.protocols[0])
        secret = credentials.secret.reveal()
        assert secret not in repr(credentials)
        assert secret not in str(credentials)

    def test_refresh_returns_usable_credentials(self, authenticator: Authenticator, account: Account) -> None:
        """``refresh()`` returns credentials of the same kind for the same user, not yet expired.

        How to fix: set ``refresher`` to a callable that asks again (a new token), or leave it None
        for secrets that never expire.
        """
        credentials = authenticator.credentials(account, self.protocols[0])
        fresh = credentials.refresh()
        assert fresh.kind == credentials.kind
        assert fresh.username == credentials.username
        if fresh.expires_at is not None:
            assert fresh.expires_at > datetime.now(UTC)

    def test_shared_mailbox_becomes_the_mailbox_user(
        self, authenticator: Authenticator, account: Account
    ) -> None:
        """With ``shared_mailbox`` set, the credentials act on that mailbox (``mailbox_user``).

        How to fix: put the shared mailbox in ``authzid`` and keep the login identity in
        ``username``.
        """
        if not self.supports_shared_mailbox:
            pytest.skip("capability off: supports_shared_mailbox")
        shared = attrs.evolve(account, shared_mailbox="shared-contract@example.test")
        credentials = authenticator.credentials(shared, self.protocols[0])
        assert credentials.mailbox_user == "shared-contract@example.test"
        assert credentials.username != "shared-contract@example.test"

    def test_foreign_auth_settings_raise_config_error_naming_the_account(
        self, authenticator: Authenticator, account: Account
    ) -> None:
        """Auth settings of another method raise ``ConfigError`` whose path names the account.

        How to fix: check ``isinstance(account.auth, YourSettings)`` first and raise
        ``ConfigError([(f"accounts.{account.name}.auth", "...")])``.
        """
        foreign = attrs.evolve(account, auth=AuthSettings(method="contract-foreign-method"))
        with pytest.raises(ConfigError) as caught:
            authenticator.credentials(foreign, self.protocols[0])
        assert any(path.startswith(f"accounts.{account.name}") for path, _ in caught.value.problems)
