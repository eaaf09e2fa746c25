"""Signing a user in: authorization code with PKCE (web apps and ``auth login``) and device code.

For a web application::

    context = StoreAuthContext.for_config(store, config)
    url, state = begin_sign_in(account, context=context, redirect_uri="https://app.example/callback")
    # redirect the browser to url; the callback receives code and state (form_post)
    signed_in = complete_sign_in(account, dict(request.form), context=context)

msal builds the URL with PKCE (S256), ``state`` and ``nonce`` and checks them on completion. The
pending flow (it holds the PKCE verifier) is kept encrypted in the store until the callback, so
any process of the web application may complete it. A successful sign-in saves the token cache,
checks the user is the one the account expects, and clears a needs-reauth mark.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from attrs import frozen

from mailconduit import Account, AuthenticationError, ConfigError
from mailconduit_entra_oauth._authenticator import EntraAuthenticator
from mailconduit_entra_oauth._client import HttpClient, build_app
from mailconduit_entra_oauth._hints import hint_for
from mailconduit_entra_oauth._scopes import sign_in_scopes

if TYPE_CHECKING:
    from mailconduit import AuthContext

__all__ = ["SignedIn", "begin_sign_in", "complete_sign_in", "device_sign_in", "pending_key"]


@frozen
class SignedIn:
    """The outcome of a sign-in: who, which scopes, until when the access token lasts."""

    account: str
    username: str
    scopes: tuple[str, ...]
    expires_at: datetime


def pending_key(account: str) -> str:
    """Where the pending sign-ins of ``account`` are kept (an encrypted cache entry of its own)."""
    return f"{account}#sign-in"


def _protocols(account: Account) -> list[str]:
    return [s.protocol for s in (account.send, account.receive) if s is not None]


def _settings(account: Account, context: AuthContext) -> Any:
    authenticator = EntraAuthenticator()
    authenticator.bind(context)
    auth, provider = authenticator.settings(account)
    if provider.flow == "client_credentials":
        raise ConfigError(
            [
                (
                    f"oauth_providers.{auth.provider}.flow",
                    "is client_credentials: app-only access has no sign-in",
                )
            ]
        )
    return auth, provider


def begin_sign_in(
    account: Account, *, context: AuthContext, redirect_uri: str | None = None
) -> tuple[str, str]:
    """Start an authorization-code sign-in; return the URL to send the browser to and its ``state``.

    Args:
        account: an account with ``auth: {method: entra_oauth}`` and a delegated flow.
        context: the auth context (``StoreAuthContext.for_config(store, config)``).
        redirect_uri: where Entra posts the result (default: the provider's ``redirect_uri``).
    """
    import msal  # type: ignore[import-untyped]

    auth, provider = _settings(account, context)
    redirect = redirect_uri or provider.redirect_uri
    if not redirect:
        raise ConfigError(
            [(f"oauth_providers.{auth.provider}.redirect_uri", "is not set and none was given")]
        )
    http = HttpClient(provider)
    try:
        app = build_app(provider, f"oauth_providers.{auth.provider}", http, msal.SerializableTokenCache())
        flow = app.initiate_auth_code_flow(
            sign_in_scopes(_protocols(account)),
            redirect_uri=redirect,
            login_hint=auth.username or account.email,
            response_mode="form_post",
        )
    finally:
        http.close()
    with context.lock(account.name):
        pending = json.loads(context.load_cache(pending_key(account.name)) or "{}")
        cutoff = (datetime.now(UTC) - timedelta(minutes=30)).timestamp()
        pending = {k: v for k, v in pending.items() if v.get("started", 0) > cutoff}
        pending[flow["state"]] = {"flow": flow, "started": datetime.now(UTC).timestamp()}
        context.save_cache(pending_key(account.name), json.dumps(pending))
    return str(flow["auth_uri"]), str(flow["state"])


def complete_sign_in(account: Account, params: Mapping[str, str], *, context: AuthContext) -> SignedIn:
    """Finish a sign-in from the callback's parameters (``code`` and ``state``, or ``error``).

    Raises:
        AuthenticationError: unknown or expired state, an error from Entra (with a likely cause),
            or a user other than the one the account expects.
    """
    import msal

    auth, provider = _settings(account, context)
    with context.lock(account.name):
        pending = json.loads(context.load_cache(pending_key(account.name)) or "{}")
        entry = pending.pop(str(params.get("state", "")), None)
        context.save_cache(pending_key(account.name), json.dumps(pending))
    if entry is None:
        raise AuthenticationError(
            f"account {account.name!r}: the sign-in callback's state matches no sign-in in progress "
            "(expired after 30 minutes, already used, or forged); start again"
        )
    if "error" in params:
        _refused(
            account, {"error": params["error"], "error_description": params.get("error_description", "")}
        )
    cache = msal.SerializableTokenCache()
    http = HttpClient(provider)
    try:
        app = build_app(provider, f"oauth_providers.{auth.provider}", http, cache)
        try:
            result = app.acquire_token_by_auth_code_flow(entry["flow"], dict(params))
        except ValueError:
            raise AuthenticationError(
                f"account {account.name!r}: the sign-in callback did not match its flow"
            ) from None
    finally:
        http.close()
    return _finish(account, auth, result, cache, context)


def device_sign_in(account: Account, *, context: AuthContext, show: Callable[[str], None]) -> SignedIn:
    """Sign in with the device code flow: ``show`` the code and where to enter it, then poll until done."""
    import msal

    auth, provider = _settings(account, context)
    cache = msal.SerializableTokenCache()
    http = HttpClient(provider)
    try:
        app = build_app(provider, f"oauth_providers.{auth.provider}", http, cache)
        if not hasattr(app, "initiate_device_flow"):
            raise ConfigError(
                [(f"oauth_providers.{auth.provider}.flow", "device code needs flow: device_code")]
            )
        flow = app.initiate_device_flow(sign_in_scopes(_protocols(account)))
        if "user_code" not in flow:
            _refused(account, flow)
        show(str(flow["message"]))
        result = app.acquire_token_by_device_flow(flow)
    finally:
        http.close()
    return _finish(account, auth, result, cache, context)


def _refused(account: Account, result: Mapping[str, Any]) -> None:
    description = str(result.get("error_description", "")).strip().splitlines()
    reason = f"{result.get('error')}: {description[0] if description else ''}"
    hint = hint_for(reason, [int(c) for c in result.get("error_codes", [])])
    raise AuthenticationError(
        f"account {account.name!r}: sign-in refused ({reason})" + (f"; likely cause: {hint}" if hint else "")
    )


def _finish(
    account: Account, auth: Any, result: Mapping[str, Any], cache: Any, context: AuthContext
) -> SignedIn:
    if "access_token" not in result:
        _refused(account, result)
    claims = result.get("id_token_claims") or {}
    username = str(claims.get("preferred_username") or claims.get("upn") or "")
    expected = auth.username or account.email
    if username.lower() != expected.lower():
        raise AuthenticationError(
            f"account {account.name!r}: signed in as {username!r}, but the account expects {expected!r}; "
            "sign in as that user, or set auth.username"
        )
    with context.lock(account.name):
        context.save_cache(account.name, cache.serialize())
        context.clear_needs_reauth(account.name)
    expires_at = datetime.now(UTC) + timedelta(seconds=int(result.get("expires_in", 0)))
    scopes = tuple(str(result.get("scope", "")).split())
    return SignedIn(account=account.name, username=username, scopes=scopes, expires_at=expires_at)
