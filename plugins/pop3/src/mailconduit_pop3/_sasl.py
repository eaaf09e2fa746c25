"""The POP3 AUTH (RFC 5034) command lines for PLAIN and the XOAUTH2 second step, as pure functions.

The SASL messages come from ``mailconduit``'s public ``sasl_plain`` and ``sasl_xoauth2``, which
refuse NUL, CR and LF in every field (and ^A in XOAUTH2's) with a ``HeaderInjectionError``, so a
crafted value can neither shift the fields nor end the command line early. Here they are base64'd
into lines:

* PLAIN goes as an initial response: ``AUTH PLAIN <base64>``.
* XOAUTH2 (Google/Microsoft): Exchange Online refuses it as an initial response on POP3, so the
  client sends ``AUTH XOAUTH2``, waits for the ``+`` continuation and then sends the base64 line
  (:func:`xoauth2_line`).
"""

from __future__ import annotations

import base64

from mailconduit import sasl_plain, sasl_xoauth2

__all__ = ["plain_command", "xoauth2_line"]


def plain_command(username: str, password: str, authzid: str | None = None, /) -> bytes:
    r"""The whole ``AUTH PLAIN <initial response>`` line (RFC 5034 allows the initial response).

    >>> plain_command("alice", "pw")
    b'AUTH PLAIN AGFsaWNlAHB3\r\n'
    """
    return b"AUTH PLAIN " + base64.b64encode(sasl_plain(username, password, authzid)) + b"\r\n"


def xoauth2_line(user: str, token: str, /) -> bytes:
    r"""The base64 line sent after the server's ``+`` to ``AUTH XOAUTH2`` (the second step).

    >>> xoauth2_line("a", "t")
    b'dXNlcj1hAWF1dGg9QmVhcmVyIHQBAQ==\r\n'
    """
    return base64.b64encode(sasl_xoauth2(user, token)) + b"\r\n"
