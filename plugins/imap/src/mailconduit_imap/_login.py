"""Logging in: LOGIN, AUTHENTICATE PLAIN (with an authorization identity), XOAUTH2 or OAUTHBEARER.

The secret never appears in an error: refused credentials name the user, the method and the
server's reply. A password or user name holding CR, LF or NUL is refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable

from mailconduit import AuthenticationError, Credentials, sasl_oauthbearer, sasl_plain, sasl_xoauth2
from mailconduit_imap import _sasl
from mailconduit_imap._client import GuardedIMAP4
from mailconduit_imap._errmap import Where, printable, translate

__all__ = ["login"]


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _once(payload: bytes) -> Callable[[bytes], bytes | None]:
    calls = 0

    def answer(_challenge: bytes) -> bytes | None:
        nonlocal calls
        calls += 1
        # first challenge: the initial response; a second one carries the server's error (XOAUTH2):
        # answer it empty so the server sends its tagged NO
        return payload if calls == 1 else b""

    return answer


def login(client: GuardedIMAP4, credentials: Credentials, where: Where) -> str:
    """Log in with ``credentials``; return the method used. Raises ``AuthenticationError`` when refused."""
    user, secret = credentials.username, credentials.secret.reveal()
    for field, value in (("user name", user), ("authzid", credentials.authzid or ""), ("secret", secret)):
        if any(c in value for c in "\r\n\0"):
            raise AuthenticationError(
                f"{where}: the {field} of {user if field != 'user name' else 'the login'!r} "
                "contains CR, LF or NUL; refused before sending anything"
            )
    ascii_only = (user + secret).isascii()
    method = _sasl.choose_method(
        credentials.kind, client.capabilities, authzid=credentials.authzid is not None, ascii_only=ascii_only
    )
    if method is None:
        offered = " ".join(c for c in client.capabilities if c.startswith("AUTH=") or c == "LOGINDISABLED")
        raise AuthenticationError(
            f"{where}: no login method fits {credentials.kind} credentials for {user!r} (the server offers "
            f"{offered or 'no AUTH= mechanisms'}); use other credentials or enable a mechanism on the server"
        )
    try:
        if method == "LOGIN":
            typ, dat = client._simple_command("LOGIN", _quoted(user), _quoted(secret))
            if typ != "OK":
                raise client.error(dat[-1].decode("utf-8", "replace") if dat[-1] else typ)
            client.state = "AUTH"
        else:
            payload = {
                "PLAIN": lambda: sasl_plain(user, secret, credentials.authzid),
                "XOAUTH2": lambda: sasl_xoauth2(credentials.mailbox_user, secret),
                "OAUTHBEARER": lambda: sasl_oauthbearer(credentials.mailbox_user, secret),
            }[method]()
            client.authenticate(method, _once(payload))
    except client.abort as exc:
        raise translate(exc, where, f"login ({method})") from None
    except client.error as exc:
        raise AuthenticationError(
            f"{where}: the server refused the login of {user!r} ({method}): {printable(str(exc))}; "
            "check the user name and password or token"
        ) from None
    client._get_capabilities()  # the list after login is the one that counts (MOVE, UIDPLUS ...)
    return method
