r"""Arguments of IMAP commands, checked and quoted: one API call is exactly one command line (G1).

Python's imaplib sends a mailbox name holding CR LF as two commands (gh-143921, CVE-2025-15366) on
every installed interpreter, so every value that reaches a command line passes through here first:
CR, LF and NUL are refused with an error naming the argument, mailbox names are encoded in modified
UTF-7 and sent as quoted strings (``"`` and ``\`` escaped), flags must be atoms.
"""

from __future__ import annotations

import re

from mailconduit import HeaderInjectionError
from mailconduit_imap._utf7 import encode_mailbox

__all__ = ["check_value", "flag", "quote_mailbox", "quote_string"]

_FLAG = re.compile(r"^\\?[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+$")


def check_value(argument: str, value: str) -> str:
    """Refuse NUL, CR and LF in ``value``; ``argument`` names it in the error (``mailbox name``)."""
    bad = [name for char, name in (("\0", "NUL"), ("\r", "CR"), ("\n", "LF")) if char in value]
    if bad:
        raise HeaderInjectionError(
            f"IMAP {argument}",
            f"{value!r} contains {', '.join(bad)}, which would end the command line early "
            "(command injection); use a value without control characters",
        )
    return value


def quote_string(argument: str, value: str) -> str:
    r"""``value`` as an IMAP quoted string (ASCII only), after :func:`check_value`.

    >>> quote_string("search string", 'say "hi" \\ bye')
    '"say \\"hi\\" \\\\ bye"'
    """
    check_value(argument, value)
    if not value.isascii():
        raise HeaderInjectionError(
            f"IMAP {argument}", f"{value!r} is not ASCII; this client sends ASCII quoted strings only"
        )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_mailbox(name: str) -> str:
    r"""A mailbox name, modified UTF-7 encoded and quoted, ready for a command line.

    >>> quote_mailbox("Contract Archive")
    '"Contract Archive"'
    >>> quote_mailbox('Entwürfe "x"')
    '"Entw&APw-rfe \\"x\\""'
    """
    check_value("mailbox name", name)
    if not name:
        raise HeaderInjectionError("IMAP mailbox name", "is empty; name a folder such as INBOX")
    return quote_string("mailbox name", encode_mailbox(name))


def flag(value: str) -> str:
    r"""A flag (``\Deleted``, ``$Label``) checked to be an atom, so it cannot carry a second command.

    >>> flag("\\Deleted")
    '\\Deleted'
    """
    check_value("flag", value)
    if not _FLAG.match(value):
        raise HeaderInjectionError(
            "IMAP flag", f"{value!r} is not an IMAP atom (no spaces, quotes or brackets)"
        )
    return value
