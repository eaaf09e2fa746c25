"""What ``auth status`` and ``auth diagnose`` show: the cache's facts and a token's claims, never a token.

The msal cache (JSON, decrypted in memory only) gives the signed-in user, the scopes of cached
access tokens, when they expire and when they were obtained (the last refresh). A token's claims
are decoded WITHOUT verification (the mail server is the judge) and only the diagnostic ones kept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

__all__ = ["CLAIMS", "cache_facts", "token_claims"]

CLAIMS = ("aud", "scp", "roles", "tid", "upn", "preferred_username", "oid", "appid", "exp")


def _when(value: object) -> str | None:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return None


def cache_facts(blob: str | None) -> dict[str, Any]:
    """User, scopes, expiry and last refresh from a serialized msal cache (None: nothing cached)."""
    if not blob:
        return {"user": None, "scopes": [], "expires": None, "last_refresh": None}
    data = json.loads(blob)
    users = [a.get("username") for a in data.get("Account", {}).values() if a.get("username")]
    tokens = list(data.get("AccessToken", {}).values())
    newest = max(tokens, key=lambda t: int(t.get("cached_at", 0)), default=None)
    scopes = sorted({s for t in tokens for s in str(t.get("target", "")).split()})
    return {
        "user": users[0] if users else None,
        "scopes": scopes,
        "expires": _when(newest.get("expires_on")) if newest else None,
        "last_refresh": _when(newest.get("cached_at")) if newest else None,
        "refresh_token": bool(data.get("RefreshToken")),
    }


def token_claims(token: str) -> dict[str, Any]:
    """The diagnostic claims of an access token (unverified); ``exp`` also as an ISO time."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {"error": "the access token is not a JWT (an opaque token cannot be inspected)"}
    kept = {k: claims[k] for k in CLAIMS if k in claims}
    if "exp" in kept:
        kept["expires"] = _when(kept["exp"])
    return kept
