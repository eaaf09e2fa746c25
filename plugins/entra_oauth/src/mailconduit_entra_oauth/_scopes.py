"""Which scopes to ask Entra for, per flow and protocol.

Delegated flows ask for the permission of the protocol on Exchange Online's resource
(``https://outlook.office.com/SMTP.Send``, ``IMAP.AccessAsUser.All``, ``POP.AccessAsUser.All``)
plus ``offline_access`` for a refresh token (msal adds ``offline_access``, ``openid`` and
``profile`` itself). Client credentials ask for the resource's ``.default``; the application
permissions granted in the app registration (``SMTP.SendAsApp``, ``IMAP.AccessAsApp``,
``POP.AccessAsApp``) come back as ``roles``.
"""

from __future__ import annotations

from mailconduit_entra_oauth._settings import Flow

__all__ = ["APP_SCOPE", "DELEGATED", "scopes_for", "sign_in_scopes"]

RESOURCE = "https://outlook.office.com"
APP_SCOPE = "https://outlook.office365.com/.default"
DELEGATED = {
    "smtp": f"{RESOURCE}/SMTP.Send",
    "imap": f"{RESOURCE}/IMAP.AccessAsUser.All",
    "pop3": f"{RESOURCE}/POP.AccessAsUser.All",
}


def scopes_for(flow: Flow, protocol: str) -> list[str]:
    """The scopes of a token for ``protocol`` (``smtp``, ``imap``, ``pop3``) under ``flow``.

    Raises:
        ValueError: a delegated flow and a protocol Exchange has no OAuth permission for.
    """
    if flow == "client_credentials":
        return [APP_SCOPE]
    try:
        return [DELEGATED[protocol]]
    except KeyError:
        raise ValueError(f"Exchange Online has no OAuth permission for protocol {protocol!r}") from None


def sign_in_scopes(protocols: list[str]) -> list[str]:
    """What a sign-in asks consent for: every protocol's permission (one refresh token serves all)."""
    return sorted({DELEGATED[p] for p in protocols if p in DELEGATED} or {DELEGATED["imap"]})
