"""SASL strings for POP3 AUTH (RFC 5034) as pure functions: PLAIN and the XOAUTH2 steps.

Wire formats (before base64):

* PLAIN (RFC 4616): ``authzid NUL authcid NUL password``; ``authzid`` is empty unless acting for
  another mailbox (a shared mailbox, or Dovecot's master users).
* XOAUTH2 (Google/Microsoft): ``user=<mailbox> ^A auth=Bearer <token> ^A ^A``. Exchange Online
  refuses it as an initial response on POP3, so the client sends ``AUTH XOAUTH2``, waits for the
  ``+`` continuation and then sends the base64 line (:func:`xoauth2_line`).

Every builder refuses NUL (and, for XOAUTH2, ^A) inside a field, so a crafted value cannot shift
the fields, and CR or LF, which would end the command line early.
"""

from __future__ import annotations

import base64

__all__ = ["plain", "plain_command", "xoauth2", "xoauth2_line"]


def _check(field: str, value: str, forbidden: str) -> None:
    bad = sorted({c for c in value if c in forbidden})
    if bad:
        names = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise ValueError(f"SASL {field} contains {names}, which would change what the server reads")


def plain(username: str, password: str, authzid: str | None = None, /) -> bytes:
    r"""The PLAIN message ``authzid\\0username\\0password`` as UTF-8 bytes.

    >>> plain("alice", "pw")
    b'\\x00alice\\x00pw'
    >>> plain("admin", "pw", "shared")
    b'shared\\x00admin\\x00pw'
    """
    for field, value in (("username", username), ("password", password), ("authzid", authzid or "")):
        _check(field, value, "\0\r\n")
    return f"{authzid or ''}\0{username}\0{password}".encode()


def plain_command(username: str, password: str, authzid: str | None = None, /) -> bytes:
    r"""The whole ``AUTH PLAIN <initial response>`` line (RFC 5034 allows the initial response).

    >>> plain_command("alice", "pw")
    b'AUTH PLAIN AGFsaWNlAHB3\\r\\n'
    """
    return b"AUTH PLAIN " + base64.b64encode(plain(username, password, authzid)) + b"\r\n"


def xoauth2(user: str, token: str, /) -> bytes:
    r"""The XOAUTH2 message ``user=USER\\x01auth=Bearer TOKEN\\x01\\x01``.

    >>> xoauth2("alice@example.org", "tok")
    b'user=alice@example.org\\x01auth=Bearer tok\\x01\\x01'
    """
    _check("user", user, "\0\x01\r\n")
    _check("token", token, "\0\x01\r\n")
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def xoauth2_line(user: str, token: str, /) -> bytes:
    r"""The base64 line sent after the server's ``+`` to ``AUTH XOAUTH2`` (the second step).

    >>> xoauth2_line("a", "t")
    b'dXNlcj1hAWF1dGg9QmVhcmVyIHQBAQ==\\r\\n'
    """
    return base64.b64encode(xoauth2(user, token)) + b"\r\n"
