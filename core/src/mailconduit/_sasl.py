"""The SASL initial responses every mail transport needs, as pure functions (no socket, no base64).

Wire formats (before base64):

* PLAIN (RFC 4616): ``authzid NUL authcid NUL password``; ``authzid`` is empty unless acting for
  another mailbox (a shared mailbox or a master user).
* XOAUTH2 (Google/Microsoft): ``user=<mailbox> ^A auth=Bearer <token> ^A ^A``.
* OAUTHBEARER (RFC 7628): ``n,a=<mailbox>, ^A auth=Bearer <token> ^A ^A`` (``,`` and ``=`` in the
  mailbox escaped as ``=2C`` and ``=3D``).

Every builder refuses NUL, CR and LF in any field (and ^A where the format uses it as a separator),
so a crafted user name or secret cannot shift the fields or end a command line early. The refusal
is a :class:`HeaderInjectionError` naming the field, never showing its value.
"""

from __future__ import annotations

from mailconduit._errors import HeaderInjectionError

__all__ = ["sasl_oauthbearer", "sasl_plain", "sasl_xoauth2"]

_NAMES = {"\0": "NUL", "\r": "CR", "\n": "LF", "\x01": "^A"}
_LINE = "\0\r\n"
_BEARER = "\0\r\n\x01"


def _check(mechanism: str, field: str, value: str, forbidden: str) -> None:
    bad = sorted({c for c in value if c in forbidden})
    if bad:
        names = ", ".join(f"U+{ord(c):04X} ({_NAMES[c]})" for c in bad)
        raise HeaderInjectionError(
            f"SASL {mechanism} {field}",
            f"contains {names}, which would change what the server reads; "
            "remove it from the account's credentials",
        )


def sasl_plain(username: str, password: str, authzid: str | None = None, /) -> bytes:
    r"""The PLAIN (RFC 4616) message ``authzid\\0username\\0password`` as UTF-8 bytes.

    Args:
        username: the authentication identity (who logs in).
        password: that identity's password.
        authzid: the mailbox to act for (a shared mailbox, a master user's target); None or empty
            to act as ``username`` itself.

    Returns:
        The message before base64.

    Raises:
        HeaderInjectionError: a field contains NUL, CR or LF.

    >>> sasl_plain("alice", "pw")
    b'\x00alice\x00pw'
    >>> sasl_plain("alice", "pw", "shared@example.org")
    b'shared@example.org\x00alice\x00pw'
    """
    for field, value in (("username", username), ("password", password), ("authzid", authzid or "")):
        _check("PLAIN", field, value, _LINE)
    return f"{authzid or ''}\0{username}\0{password}".encode()


def sasl_xoauth2(user: str, token: str, /) -> bytes:
    r"""The XOAUTH2 message ``user=USER\x01auth=Bearer TOKEN\x01\x01`` as UTF-8 bytes.

    Args:
        user: the mailbox to log in to.
        token: the OAuth access token.

    Returns:
        The message before base64.

    Raises:
        HeaderInjectionError: a field contains NUL, CR, LF or ^A.

    >>> sasl_xoauth2("alice@example.org", "tok")
    b'user=alice@example.org\x01auth=Bearer tok\x01\x01'
    """
    _check("XOAUTH2", "user", user, _BEARER)
    _check("XOAUTH2", "token", token, _BEARER)
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def sasl_oauthbearer(user: str, token: str, /) -> bytes:
    r"""The OAUTHBEARER (RFC 7628) message ``n,a=USER,\x01auth=Bearer TOKEN\x01\x01`` as UTF-8 bytes.

    ``,`` and ``=`` in ``user`` are escaped as ``=2C`` and ``=3D`` (RFC 5801 saslname).

    Args:
        user: the mailbox to log in to (the authorization identity).
        token: the OAuth access token.

    Returns:
        The message before base64.

    Raises:
        HeaderInjectionError: a field contains NUL, CR, LF or ^A.

    >>> sasl_oauthbearer("a,b=c@example.org", "tok")
    b'n,a=a=2Cb=3Dc@example.org,\x01auth=Bearer tok\x01\x01'
    """
    _check("OAUTHBEARER", "user", user, _BEARER)
    _check("OAUTHBEARER", "token", token, _BEARER)
    saslname = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={saslname},\x01auth=Bearer {token}\x01\x01".encode()
