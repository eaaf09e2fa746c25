"""Strict e-mail address parsing: an address is parsed exactly as written, or refused.

The stdlib's ``email.utils.parseaddr`` guesses: on the Pythons here it reads
``alice@example.org)<bob@example.org>`` as ``alice@example.org`` (CVE-2023-27043). This parser
accepts the RFC 5322 forms applications really use (``addr@domain``, ``Name <addr@domain>``,
``"Quoted, Name" <addr@domain>``, quoted local parts, internationalised local parts and domains)
and refuses everything else with an ``AddressError`` naming the text.
"""

from __future__ import annotations

import functools
import re

from mailconduit._errors import AddressError
from mailconduit._message import Address

__all__ = ["parse_address", "parse_address_list", "split_address_list"]

_UNICODE = "\u0080-\U0010ffff"
_ATEXT = rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\-{_UNICODE}]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f\x7f])*"'
_LABEL = rf"[A-Za-z0-9{_UNICODE}](?:[A-Za-z0-9\-{_UNICODE}]{{0,61}}[A-Za-z0-9{_UNICODE}])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])"
_ADDR_SPEC = rf"(?:{_DOT_ATOM}|{_QUOTED})@{_DOMAIN}"
# an unquoted display name: words of anything but the specials and controls (dots allowed, obs-phrase)
_WORD = rf"[^\x00-\x1f\x7f()<>\[\]:;@\\,\"\s{chr(0x2028)}{chr(0x2029)}{chr(0x85)}]+"
_PHRASE = rf"(?:{_QUOTED}|{_WORD})(?:[ \t]+(?:{_QUOTED}|{_WORD}))*"


@functools.cache
def _full() -> re.Pattern[str]:
    """The whole-address pattern, compiled on first use (it is large; start-up stays fast)."""
    return re.compile(
        rf"^[ \t]*(?:(?P<name>{_PHRASE})[ \t]*<(?P<addr1>{_ADDR_SPEC})>|<(?P<addr2>{_ADDR_SPEC})>"
        rf"|(?P<addr3>{_ADDR_SPEC}))[ \t]*$"
    )


_FORBIDDEN = re.compile("[\x00\r\n\u2028\u2029\x85]")


def _unquote(phrase: str) -> str:
    if len(phrase) >= 2 and phrase[0] == '"' and phrase[-1] == '"':
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    return phrase


def parse_address(text: str, *, field: str = "address") -> Address:
    """Parse one address exactly, or raise ``AddressError`` naming ``field`` and the text.

    Example:
        >>> parse_address('"Doe, Jane" <jane@example.org>')
        Address(addr_spec='jane@example.org', display_name='Doe, Jane')
    """
    if not isinstance(text, str):
        raise AddressError(f"{field}: expected text, got {type(text).__name__}")
    if _FORBIDDEN.search(text):
        raise AddressError(f"{field}: {text!r} contains a line break or NUL")
    match = _full().match(text)
    if match is None:
        raise AddressError(f"{field}: {text!r} is not a single valid e-mail address")
    addr = match.group("addr1") or match.group("addr2") or match.group("addr3")
    local, _, domain = addr.rpartition("@")
    if len(local) > 64 and not local.startswith('"'):
        raise AddressError(f"{field}: {text!r} has a local part longer than 64 characters")
    if len(domain) > 255:
        raise AddressError(f"{field}: {text!r} has a domain longer than 255 characters")
    name = match.group("name")
    display = _unquote(name.strip()) if name else None
    return Address(addr_spec=addr, display_name=display or None)


def split_address_list(text: str) -> list[str]:
    """Split ``text`` on ``,`` and ``;`` outside quotes and angle brackets; empty items are dropped."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth = 0
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth = max(0, depth - 1)
        elif not quoted and depth == 0 and char in ",;":
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def parse_address_list(text: str, *, field: str = "addresses") -> list[Address]:
    """Parse a list of addresses separated by ``,`` or ``;``; one bad item refuses the whole list."""
    return [parse_address(item, field=f"{field}[{i}]") for i, item in enumerate(split_address_list(text))]
