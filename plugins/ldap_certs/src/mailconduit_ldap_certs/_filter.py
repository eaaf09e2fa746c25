r"""LDAP search filters built from untrusted values (RFC 4515), with no server and no ldap3.

Every byte that could change a filter's meaning (``*``, ``(``, ``)``, ``\``, NUL) and every byte
outside printable ASCII is written as ``\XX``, so an address can only ever be a literal value.
"""

from __future__ import annotations

__all__ = ["CERTIFICATE_ATTRIBUTES", "escape_filter_value", "mail_filter"]

CERTIFICATE_ATTRIBUTES = ("userCertificate;binary", "userSMIMECertificate")
"""The attributes read for each entry found."""

_SAFE = frozenset(range(0x21, 0x7F)) - {ord(c) for c in "*()\\"}


def escape_filter_value(value: str) -> str:
    """Escape ``value`` (UTF-8) as an RFC 4515 assertion value: a literal, never a pattern."""
    return "".join(chr(b) if b in _SAFE else f"\\{b:02x}" for b in value.encode("utf-8"))


def mail_filter(address: str) -> str:
    """``(mail=<escaped address>)``."""
    return f"(mail={escape_filter_value(address)})"
