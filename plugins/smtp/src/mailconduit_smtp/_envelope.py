"""Checks on what goes into SMTP command lines (EHLO name, envelope addresses, MAIL/RCPT parameters).

Each value is put on a command line verbatim, so one CR, LF or NUL would end the command and start
another (RELIABILITY.md G2, cf. the nodemailer envelope advisories). Every check refuses, never
repairs, and raises :class:`mailconduit.HeaderInjectionError` naming the field.

Refused everywhere: control characters (U+0000-U+001F, U+007F), space, and the Unicode line
separators U+0085, U+2028 and U+2029. Addresses also may not contain ``<`` or ``>`` (they would close
the path early). A quoted local part with a space (``"a b"@example.org``) is therefore refused too.
"""

from __future__ import annotations

import re

from mailconduit import HeaderInjectionError

__all__ = ["check_address", "check_ehlo_name", "check_parameter", "needs_smtputf8"]

_FORBIDDEN = re.compile("[\x00-\x20\x7f\x85\u2028\u2029]")
_ESMTP_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
_ESMTP_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e]+\Z")  # RFC 5321: any printable except '=' and SP


def _describe(char: str) -> str:
    return {"\r": "CR", "\n": "LF", "\0": "NUL", " ": "a space"}.get(char, f"U+{ord(char):04X}")


def _refuse_forbidden(field: str, value: str) -> None:
    match = _FORBIDDEN.search(value)
    if match:
        raise HeaderInjectionError(
            field,
            f"contains {_describe(match.group())} at position {match.start()}, which would split or end "
            "the SMTP command; remove it",
        )


def check_ehlo_name(name: str, field: str = "send.ehlo_name") -> str:
    """Return ``name`` if it may follow ``EHLO``; raise ``HeaderInjectionError`` otherwise."""
    if not name:
        raise HeaderInjectionError(field, "is empty; give a host name or an address literal like [192.0.2.1]")
    _refuse_forbidden(field, name)
    if not name.isascii():
        raise HeaderInjectionError(
            field, "must be ASCII; write an international domain name in its xn-- form"
        )
    return name


def check_address(address: str, field: str) -> str:
    """Return ``address`` if it may go between ``<`` and ``>`` in MAIL FROM or RCPT TO.

    The empty reverse path (``""``, for bounces) is allowed; ``field`` names the value in errors
    (``envelope from``, ``recipient 3``).
    """
    _refuse_forbidden(field, address)
    for char in "<>":
        if char in address:
            raise HeaderInjectionError(field, f"contains {char!r}, which would end the SMTP path early")
    return address


def check_parameter(parameter: str, field: str) -> str:
    """Return ``parameter`` if it is one ESMTP parameter ``KEYWORD[=VALUE]`` (RFC 5321 section 4.1.2)."""
    _refuse_forbidden(field, parameter)
    keyword, sep, value = parameter.partition("=")
    if not _ESMTP_KEYWORD.match(keyword):
        raise HeaderInjectionError(
            field, f"{parameter!r} is not an ESMTP parameter (KEYWORD or KEYWORD=VALUE)"
        )
    if sep and not _ESMTP_VALUE.match(value):
        raise HeaderInjectionError(field, f"the value of {keyword} must be printable ASCII without '='")
    return parameter


def needs_smtputf8(*addresses: str) -> bool:
    """True when any address has a non-ASCII character (it then needs the server's SMTPUTF8)."""
    return any(not a.isascii() for a in addresses)
