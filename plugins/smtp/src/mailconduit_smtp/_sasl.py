"""The choice of SMTP AUTH mechanism and the LOGIN answers, as pure functions (no socket, no base64).

* LOGIN (draft-murchison-sasl-login): the username, then the password, each answering a challenge.
* PLAIN, XOAUTH2 and OAUTHBEARER: the strings come from ``mailconduit``'s public ``sasl_plain``,
  ``sasl_xoauth2`` and ``sasl_oauthbearer``, shared with the other transports.

The LOGIN answers refuse NUL, CR and LF, so a crafted user name or password cannot end the line.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

__all__ = ["Mechanism", "choose_mechanism", "login_responses"]

Mechanism = Literal["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]


def _check(field: str, value: str, forbidden: str) -> None:
    bad = [c for c in forbidden if c in value]
    if bad:
        names = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise ValueError(f"SASL {field} contains {names}, which the mechanism uses as a separator")


def login_responses(username: str, password: str, /) -> tuple[bytes, bytes]:
    """The two LOGIN answers: the username, then the password (UTF-8).

    >>> login_responses("alice", "pw")
    (b'alice', b'pw')
    """
    _check("username", username, "\0\r\n")
    _check("password", password, "\0\r\n")
    return username.encode(), password.encode()


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
