"""mailconduit-entra-oauth: Microsoft Entra ID OAuth 2.0 for Exchange Online over SMTP, IMAP and POP3.

Installed, it registers the ``entra`` provider type, the ``entra_oauth`` authenticator and the
``mailconduit auth`` commands. Web applications sign users in with :func:`begin_sign_in` and
:func:`complete_sign_in`; see the README's "Exchange Online with OAuth". msal is imported only
when a token is needed.
"""

from __future__ import annotations

from mailconduit_entra_oauth._authenticator import EntraAuthenticator, NeedsSignIn, Throttled
from mailconduit_entra_oauth._hints import hint_for
from mailconduit_entra_oauth._loopback import browser_sign_in
from mailconduit_entra_oauth._scopes import APP_SCOPE, DELEGATED, scopes_for
from mailconduit_entra_oauth._settings import DEFAULT_AUTHORITY, EntraAuth, EntraCertificate, EntraProvider
from mailconduit_entra_oauth._signin import SignedIn, begin_sign_in, complete_sign_in, device_sign_in

__all__ = [
    "APP_SCOPE",
    "DEFAULT_AUTHORITY",
    "DELEGATED",
    "EntraAuth",
    "EntraAuthenticator",
    "EntraCertificate",
    "EntraProvider",
    "NeedsSignIn",
    "SignedIn",
    "Throttled",
    "begin_sign_in",
    "browser_sign_in",
    "complete_sign_in",
    "device_sign_in",
    "hint_for",
    "scopes_for",
]
__version__ = "0.1.0"
