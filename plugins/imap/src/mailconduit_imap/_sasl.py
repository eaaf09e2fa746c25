"""The choice of IMAP login method from the server's capabilities, as a pure function.

The SASL strings themselves (PLAIN, XOAUTH2, OAUTHBEARER) come from ``mailconduit``'s public
``sasl_plain``, ``sasl_xoauth2`` and ``sasl_oauthbearer``, shared with the other transports.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

__all__ = ["Method", "choose_method"]

Method = Literal["LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER"]


def choose_method(
    kind: Literal["password", "bearer"], capabilities: Collection[str], *, authzid: bool, ascii_only: bool
) -> Method | None:
    """Pick how to log in from the server's CAPABILITY words (any case).

    Passwords: LOGIN unless an authorization identity is needed or the password is not ASCII (then
    AUTHENTICATE PLAIN); LOGIN is never chosen when the server says LOGINDISABLED. Bearer tokens:
    XOAUTH2, else OAUTHBEARER. None when nothing fits (the caller reports what the server offered).

    >>> choose_method("password", ["IMAP4rev1", "AUTH=PLAIN"], authzid=False, ascii_only=True)
    'LOGIN'
    >>> choose_method("password", ["IMAP4rev1", "AUTH=PLAIN"], authzid=True, ascii_only=True)
    'PLAIN'
    >>> choose_method("bearer", ["auth=oauthbearer"], authzid=False, ascii_only=True)
    'OAUTHBEARER'
    """
    upper = {c.upper() for c in capabilities}
    if kind == "bearer":
        bearer: tuple[Method, ...] = ("XOAUTH2", "OAUTHBEARER")
        for mechanism in bearer:
            if f"AUTH={mechanism}" in upper:
                return mechanism
        return None
    if "AUTH=PLAIN" in upper and (authzid or not ascii_only):
        return "PLAIN"
    if authzid or not ascii_only:
        return None
    if "LOGINDISABLED" in upper:
        return "PLAIN" if "AUTH=PLAIN" in upper else None
    return "LOGIN"
