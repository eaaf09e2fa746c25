"""Built-in plugin: the ``password`` authenticator (LOGIN / AUTH PLAIN / USER+PASS)."""

from __future__ import annotations

from mailconduit._errors import ConfigError
from mailconduit._model import Account, PasswordAuth
from mailconduit._registering import RegisterAuthenticator
from mailconduit._types import Credentials
from mailconduit.hookspecs import hookimpl


class PasswordAuthenticator:
    """Gives the account's username (default: its email) and password to every protocol.

    For a shared mailbox the login stays the account's own and ``authzid`` names the shared mailbox,
    so a transport can log in as a delegate (SASL PLAIN authzid, or a server's master-user syntax).
    """

    def credentials(self, account: Account, protocol: str) -> Credentials:
        """Return password credentials for ``account``; ``protocol`` does not change them."""
        auth = account.auth
        if not isinstance(auth, PasswordAuth):
            raise ConfigError([(f"accounts.{account.name}.auth", "is not a password auth section")])
        return Credentials(
            kind="password",
            username=auth.username or account.email,
            secret=auth.password,
            authzid=account.shared_mailbox,
        )


@hookimpl
def register_authenticators(register: RegisterAuthenticator) -> None:
    """Register ``password``."""
    register("password", PasswordAuthenticator, settings=PasswordAuth)
