"""Likely cause and fix for the usual replies of Entra and Exchange Online to OAuth clients.

Used by the authenticator's errors and by ``mailconduit auth diagnose``. Keys are AADSTS codes
(from ``error_codes`` / ``error_description``) and mail server replies.
"""

from __future__ import annotations

import re

__all__ = ["AADSTS", "SERVER", "aadsts_codes", "hint_for"]

AADSTS: dict[int, str] = {
    50076: "multi-factor authentication is required (a Conditional Access policy): sign in again "
    "interactively with `mailconduit auth login ACCOUNT`",
    65001: "the user or an administrator has not consented to the app's permissions: grant admin "
    "consent for the app in Entra (API permissions), or sign in again and accept",
    700016: "the application (client id) was not found in the tenant: check client_id and tenant, "
    "and that the app is registered (or consented) in that tenant",
    700082: "the refresh token expired or was revoked (inactivity, password change, admin action): "
    "sign in again with `mailconduit auth login ACCOUNT`",
    7000215: "the client secret is wrong (or is the secret's id instead of its value): create a new "
    "secret in the app registration and put its value in client_secret",
    7000222: "the client secret has expired: create a new one in the app registration",
    50126: "wrong user name or password at sign-in",
    50011: "the redirect URI is not registered for the app: add it under Authentication",
    1002012: "client credentials need the .default scope of the resource",
    700024: "the client assertion is not valid (clock skew, or the certificate is not the one "
    "uploaded to the app registration)",
    50196: "the authority is throttling this client (too many requests): it backs off and retries",
}

SERVER: list[tuple[str, str]] = [
    (
        "535 5.7.3",
        "SMTP refused the token: authenticated SMTP (SMTP AUTH) is disabled for the mailbox or the tenant, "
        "the token lacks SMTP.Send (delegated) / SMTP.SendAsApp (app-only), or the user= is not a mailbox "
        "the token may send as. Enable SMTP AUTH for the mailbox "
        "(Set-CASMailbox -SmtpClientAuthenticationDisabled $false) and check the permissions",
    ),
    (
        "530 5.7.57",
        "the client tried to send without authenticating: the session did not AUTH (check STARTTLS and "
        "that the server offers AUTH XOAUTH2)",
    ),
    (
        "AUTHENTICATE failed",
        "IMAP/POP refused the token: for app-only access the service principal needs Exchange mailbox "
        "permission (Add-MailboxPermission -User <service principal id> -AccessRights FullAccess); for "
        "delegated access the token needs IMAP.AccessAsUser.All / POP.AccessAsUser.All and the user must "
        "own, or have FullAccess to, the mailbox; IMAP/POP must be enabled for the mailbox",
    ),
    (
        "AUTHENTICATIONFAILED",
        "IMAP refused the token (see `AUTHENTICATE failed`): wrong audience, scope, mailbox permission or "
        "an expired token",
    ),
    ("-ERR", "POP3 refused the token: see `AUTHENTICATE failed`"),
]


def aadsts_codes(text: str) -> list[int]:
    """The AADSTS codes quoted in ``text``."""
    return [int(code) for code in re.findall(r"AADSTS(\d+)", text)]


def hint_for(text: str, codes: list[int] | None = None) -> str | None:
    """The likely cause and fix for an authority or server reply, or None when none is known."""
    for code in [*(codes or []), *aadsts_codes(text)]:
        if code in AADSTS:
            return f"AADSTS{code}: {AADSTS[code]}"
    for marker, hint in SERVER:
        if marker.lower() in text.lower():
            return hint
    return None
