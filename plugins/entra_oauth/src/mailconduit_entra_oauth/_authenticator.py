"""The ``entra_oauth`` authenticator: bearer credentials from msal, cached encrypted, one refresh at a time.

For every ``credentials(account, protocol)`` call, under the account's lock (``AuthContext.lock``,
so eight workers needing a token cause one token request), it loads the account's msal token
cache from the store, asks msal for a token (a cached one while it has 5 minutes left, else a
refresh), and saves the cache back when it changed. Then:

* ``invalid_grant`` / ``interaction_required`` (revoked or expired refresh token, MFA, consent):
  the account is marked as needing a new sign-in (persisted), logged once at WARNING, and no
  further token request is made for it until ``mailconduit auth login`` succeeds;
* 429 / 5xx with ``Retry-After``: no request for that account until the time has passed; the error
  is temporary, so the outbox and ``fetch --watch`` try again later.

The SASL user: delegated flows log in as the signed-in user, with ``authzid`` naming the shared
mailbox when the account has one (XOAUTH2 ``user=`` is then the shared mailbox); client
credentials log in as the account's mailbox (``auth.username``, else the shared mailbox, else the
email). ``refresher`` asks again, so a long session renews its token before it lapses.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailconduit import (
    Account,
    AuthenticationError,
    ConfigError,
    Credentials,
    Secret,
    TlsError,
    TransportError,
)
from mailconduit_entra_oauth._client import HttpClient, build_app
from mailconduit_entra_oauth._hints import hint_for
from mailconduit_entra_oauth._scopes import scopes_for
from mailconduit_entra_oauth._settings import EntraAuth, EntraProvider

if TYPE_CHECKING:
    from mailconduit import AuthContext

__all__ = ["REAUTH_ERRORS", "EntraAuthenticator", "NeedsSignIn", "Throttled"]

log = logging.getLogger("mailconduit.entra_oauth")

REAUTH_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required", "login_required"})


class NeedsSignIn(AuthenticationError):
    """The account has no usable refresh token: someone must sign in again (``auth login``)."""


class Throttled(TransportError):
    """The authority asked to wait (HTTP 429 or 5xx with Retry-After); temporary."""

    temporary = True


def _login_hint(account: Account) -> str:
    return f"run `mailconduit auth login {account.name}`"


class EntraAuthenticator:
    """``auth: {method: entra_oauth, provider: NAME}``; needs an ``AuthContext`` (see ``bind``)."""

    def __init__(self) -> None:
        """An unbound authenticator; ``PluginSet.authenticator`` binds it to the store's context."""
        self._context: AuthContext | None = None
        self._not_before: dict[str, float] = {}
        self._guard = threading.Lock()

    def bind(self, context: AuthContext) -> None:
        """Use ``context`` for provider settings, the encrypted token caches and the re-auth marks."""
        self._context = context

    @property
    def context(self) -> AuthContext:
        """The bound context; a ``ConfigError`` when nothing opened a store."""
        if self._context is None:
            raise ConfigError(
                [
                    (
                        "auth",
                        "entra_oauth keeps tokens in the store: use Outbox, replicate(config=) or the CLI",
                    )
                ]
            )
        return self._context

    def settings(self, account: Account) -> tuple[EntraAuth, EntraProvider]:
        """The account's auth section and its provider, checked."""
        auth = account.auth
        if not isinstance(auth, EntraAuth):
            raise ConfigError([(f"accounts.{account.name}.auth", "is not an entra_oauth auth section")])
        provider = self.context.provider(auth.provider)
        if not isinstance(provider, EntraProvider):
            raise ConfigError([(f"oauth_providers.{auth.provider}", "is not of type entra")])
        return auth, provider

    def credentials(self, account: Account, protocol: str) -> Credentials:
        """Bearer credentials for ``account`` over ``protocol`` (``smtp``, ``imap``, ``pop3``).

        Raises:
            ConfigError: the account's auth or provider settings are wrong.
            NeedsSignIn: nobody signed in yet, or the refresh token was refused (marked, logged).
            Throttled: the authority asked to wait; temporary.
            AuthenticationError: the authority refused for another reason (with a likely cause).
            TransportError: the authority could not be reached (temporary).
        """
        auth, provider = self.settings(account)
        context = self.context
        mark = context.needs_reauth(account.name)
        if mark is not None:
            raise NeedsSignIn(
                f"account {account.name!r} needs a new sign-in since {mark.since:%Y-%m-%d %H:%M} UTC "
                f"({mark.reason}); {_login_hint(account)}; no token requests are made until then"
            )
        self._check_backoff(account)
        scopes = scopes_for(provider.flow, protocol)
        with context.lock(account.name):
            result, user = self._acquire(account, auth, provider, scopes)
        expires_at = datetime.now(UTC) + timedelta(seconds=int(result.get("expires_in", 0)))
        token = Secret(result["access_token"], source=f"entra:{account.name}")
        if provider.flow == "client_credentials":
            username, authzid = auth.username or account.mailbox, None
        else:
            username, authzid = user, account.shared_mailbox
        return Credentials(
            kind="bearer",
            username=username,
            authzid=authzid,
            secret=token,
            expires_at=expires_at,
            refresher=lambda: self.credentials(account, protocol),
        )

    def _check_backoff(self, account: Account) -> None:
        with self._guard:
            until = self._not_before.get(account.name, 0.0)
        wait = until - time.monotonic()
        if wait > 0:
            raise Throttled(
                f"account {account.name!r}: the Entra authority asked to wait; no token request for "
                f"another {wait:.0f} s (it retries later by itself)"
            )

    def _acquire(
        self, account: Account, auth: EntraAuth, provider: EntraProvider, scopes: list[str]
    ) -> tuple[dict[str, Any], str]:
        import msal  # type: ignore[import-untyped]

        context = self.context
        where = f"oauth_providers.{auth.provider}"
        cache = msal.SerializableTokenCache()
        blob = context.load_cache(account.name)
        if blob:
            cache.deserialize(blob)
        http = HttpClient(provider)
        try:
            app = build_app(provider, where, http, cache)
            if provider.flow == "client_credentials":
                result = app.acquire_token_for_client(scopes)
                user = auth.username or account.mailbox
            else:
                accounts = app.get_accounts()
                if not accounts:
                    raise NeedsSignIn(
                        f"account {account.name!r}: nobody has signed in yet; {_login_hint(account)}"
                    )
                user = str(accounts[0].get("username") or auth.username or account.email)
                result = app.acquire_token_silent_with_error(scopes, account=accounts[0])
                if result is None:
                    raise NeedsSignIn(
                        f"account {account.name!r}: no usable token in the cache; {_login_hint(account)}"
                    )
        except (OSError, ValueError) as exc:
            if isinstance(exc, ConfigError | AuthenticationError):
                raise
            if "SSL" in type(exc).__name__:
                raise TlsError(
                    f"account {account.name!r}: the Entra authority {provider.authority} failed TLS checks "
                    f"({_first_line(exc)}); check its certificate, host name and ca_file"
                ) from None
            raise TransportError(
                f"account {account.name!r}: the Entra authority {provider.authority} could not be reached "
                f"({type(exc).__name__}: {_first_line(exc)}); check the network and its certificate"
            ) from None
        finally:
            if cache.has_state_changed:
                context.save_cache(account.name, cache.serialize())
            http.close()
        if "access_token" not in result:
            self._fail(account, result, http)
        return result, user

    def _fail(self, account: Account, result: dict[str, Any], http: HttpClient) -> None:
        error = str(result.get("error", "unknown_error"))
        description = _first_line(str(result.get("error_description", "")))
        codes = [int(c) for c in result.get("error_codes", []) if str(c).isdigit()]
        reason = f"{error}: {description}" if description else error
        status = http.last_status() or 0
        if status == 429 or status >= 500:
            delay = http.last_retry_after() or 30.0
            with self._guard:
                self._not_before[account.name] = time.monotonic() + delay
            log.warning(
                "account %s: Entra throttled (HTTP %s); next token request in %.0f s",
                account.name,
                status,
                delay,
            )
            raise Throttled(
                f"account {account.name!r}: Entra answered HTTP {status} ({reason}); retry in {delay:.0f} s"
            )
        hint = hint_for(description, codes)
        if error in REAUTH_ERRORS:
            self.context.mark_needs_reauth(account.name, reason)
            log.warning(
                "account %s: needs a new sign-in (%s); token requests stop until `auth login`",
                account.name,
                reason,
            )
            raise NeedsSignIn(f"account {account.name!r}: {reason}; {_login_hint(account)}")
        raise AuthenticationError(
            f"account {account.name!r}: Entra refused the token request ({reason})"
            + (f"; likely cause: {hint}" if hint else "")
        )


def _first_line(value: object) -> str:
    text = str(value).strip().splitlines()
    return text[0][:300] if text else ""
