"""SASL strings and the choice of mechanism for SMTP AUTH, as pure functions (no socket, no base64).

Wire formats (before base64):

* PLAIN (RFC 4616): ``authzid NUL authcid NUL password``; ``authzid`` is empty unless acting for
  another mailbox.
* LOGIN (draft-murchison-sasl-login): the username, then the password, each answering a challenge.
* XOAUTH2 (Google/Microsoft): ``user=<mailbox> ^A auth=Bearer <token> ^A ^A``.
* OAUTHBEARER (RFC 7628): ``n,a=<mailbox>, ^A auth=Bearer <token> ^A ^A`` (``,`` and ``=`` in the
  mailbox escaped as ``=2C`` and ``=3D``).

Every builder refuses NUL (and, where the format uses it as a separator, ^A) inside a field, so a
crafted username cannot shift the fields.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

__all__ = ["Mechanism", "choose_mechanism", "login_responses", "oauthbearer", "plain", "xoauth2"]

Mechanism = Literal["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]


def _check(field: str, value: str, forbidden: str) -> None:
    bad = [c for c in forbidden if c in value]
    if bad:
        names = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise ValueError(f"SASL {field} contains {names}, which the mechanism uses as a separator")


def plain(username: str, password: str, authzid: str | None = None, /) -> bytes:
    r"""The PLAIN initial response ``authzid\\0username\\0password`` as UTF-8 bytes.

    >>> plain("alice", "pw")
    b'\\x00alice\\x00pw'
    >>> plain("alice", "pw", "shared@example.org")
    b'shared@example.org\\x00alice\\x00pw'
    """
    _check("username", username, "\0")
    _check("password", password, "\0")
    _check("authzid", authzid or "", "\0")
    return f"{authzid or ''}\0{username}\0{password}".encode()


def login_responses(username: str, password: str, /) -> tuple[bytes, bytes]:
    """The two LOGIN answers: the username, then the password (UTF-8).

    >>> login_responses("alice", "pw")
    (b'alice', b'pw')
    """
    _check("username", username, "\0\r\n")
    _check("password", password, "\0\r\n")
    return username.encode(), password.encode()


def xoauth2(user: str, token: str, /) -> bytes:
    r"""The XOAUTH2 initial response ``user=USER\\x01auth=Bearer TOKEN\\x01\\x01``.

    >>> xoauth2("alice@example.org", "tok")
    b'user=alice@example.org\\x01auth=Bearer tok\\x01\\x01'
    """
    _check("user", user, "\0\x01")
    _check("token", token, "\0\x01")
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer(user: str, token: str, /) -> bytes:
    r"""The OAUTHBEARER (RFC 7628) initial response ``n,a=USER,\\x01auth=Bearer TOKEN\\x01\\x01``.

    >>> oauthbearer("a,b=c@example.org", "tok")
    b'n,a=a=2Cb=3Dc@example.org,\\x01auth=Bearer tok\\x01\\x01'
    """
    _check("user", user, "\0\x01")
    _check("token", token, "\0\x01")
    saslname = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={saslname},\x01auth=Bearer {token}\x01\x01".encode()


def choose_mechanism(kind: Literal["password", "bearer"], offered: Collection[str]) -> Mechanism | None:
    """Pick the mechanism for credentials of ``kind`` from those the server ``offered`` (any case).

    Passwords use PLAIN, else LOGIN; bearer tokens use XOAUTH2, else OAUTHBEARER. None when the
    server offers none of them (the caller reports what it did offer).

    >>> choose_mechanism("password", ["LOGIN", "XOAUTH2"])
    'LOGIN'
    >>> choose_mechanism("bearer", ["plain", "xoauth2"])
    'XOAUTH2'
    """
    upper = {m.upper() for m in offered}
    preference: tuple[Mechanism, ...] = (
        ("PLAIN", "LOGIN") if kind == "password" else ("XOAUTH2", "OAUTHBEARER")
    )
    for mechanism in preference:
        if mechanism in upper:
            return mechanism
    return None
