"""SASL strings and the choice of login method for IMAP, as pure functions (no socket, no base64).

Wire formats (before base64):

* PLAIN (RFC 4616): ``authzid NUL authcid NUL password``; ``authzid`` is empty unless acting for
  another mailbox (a shared mailbox or a master user).
* XOAUTH2 (Google/Microsoft): ``user=<mailbox> ^A auth=Bearer <token> ^A ^A``.
* OAUTHBEARER (RFC 7628): ``n,a=<mailbox>, ^A auth=Bearer <token> ^A ^A`` (``,`` and ``=`` in the
  mailbox escaped as ``=2C`` and ``=3D``).

Every builder refuses NUL (and, where the format uses it as a separator, ^A) inside a field, so a
crafted username cannot shift the fields.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

__all__ = ["Method", "choose_method", "oauthbearer", "plain", "xoauth2"]

Method = Literal["LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER"]


def _check(field: str, value: str, forbidden: str) -> None:
    bad = [c for c in forbidden if c in value]
    if bad:
        names = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise ValueError(f"SASL {field} contains {names}, which the mechanism uses as a separator")


def plain(username: str, password: str, authzid: str | None = None, /) -> bytes:
    r"""The PLAIN initial response ``authzid\\0username\\0password`` as UTF-8 bytes.

    >>> plain("alice", "pw")
    b'\x00alice\x00pw'
    >>> plain("alice", "pw", "shared@example.org")
    b'shared@example.org\x00alice\x00pw'
    """
    _check("username", username, "\0")
    _check("password", password, "\0")
    _check("authzid", authzid or "", "\0")
    return f"{authzid or ''}\0{username}\0{password}".encode()


def xoauth2(user: str, token: str, /) -> bytes:
    r"""The XOAUTH2 initial response ``user=USER\x01auth=Bearer TOKEN\x01\x01``.

    >>> xoauth2("alice@example.org", "tok")
    b'user=alice@example.org\x01auth=Bearer tok\x01\x01'
    """
    _check("user", user, "\0\x01")
    _check("token", token, "\0\x01")
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer(user: str, token: str, /) -> bytes:
    r"""The OAUTHBEARER (RFC 7628) initial response ``n,a=USER,\x01auth=Bearer TOKEN\x01\x01``.

    >>> oauthbearer("a,b=c@example.org", "tok")
    b'n,a=a=2Cb=3Dc@example.org,\x01auth=Bearer tok\x01\x01'
    """
    _check("user", user, "\0\x01")
    _check("token", token, "\0\x01")
    saslname = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={saslname},\x01auth=Bearer {token}\x01\x01".encode()


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
