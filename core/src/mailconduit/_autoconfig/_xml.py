"""Read a Thunderbird-style autoconfig document (``config-v1.1.xml``) into server settings.

The format: ``<clientConfig><emailProvider><incomingServer type="imap|pop3">`` and
``<outgoingServer type="smtp">``, each with ``hostname``, ``port``, ``socketType`` (``SSL``,
``STARTTLS``, ``plain``), ``username`` (with ``%EMAILADDRESS%``, ``%EMAILLOCALPART%``,
``%EMAILDOMAIN%``) and one or more ``authentication`` values. Parsed with defusedxml (no DTDs, no
entities); whatever is unusable is skipped with a note, never raised.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from attrs import define

from mailconduit._autoconfig._types import Server, valid_host
from mailconduit._model import TlsMode

__all__ = ["MAX_DOCUMENT", "AutoconfigDocument", "parse_autoconfig"]

MAX_DOCUMENT = 256 * 1024
"""Larger documents are refused unread."""

_SOCKET_TYPES = {"ssl": TlsMode.TLS, "tls": TlsMode.TLS, "starttls": TlsMode.STARTTLS, "plain": TlsMode.NONE}
_PASSWORD_AUTH = {"password-cleartext", "plain", "password-encrypted", "secure"}
_PROTOCOLS = {"imap": "imap", "pop3": "pop3", "smtp": "smtp"}


@define(frozen=True, kw_only=True)
class AutoconfigDocument:
    """What an autoconfig document offers, preferred first within each list.

    Attributes:
        display_name: the provider's name as the document gives it (cleaned to one short line).
        domains: the domains the document says it serves.
        receive: usable IMAP and POP3 servers.
        send: usable SMTP servers.
        notes: what was skipped and why.
    """

    display_name: str | None
    domains: tuple[str, ...]
    receive: tuple[Server, ...]
    send: tuple[Server, ...]
    notes: tuple[str, ...]


def _text(element: Any, tag: str) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None:
        return None
    return str(child.text).strip()


def _one_line(text: str | None, limit: int = 80) -> str | None:
    if not text:
        return None
    cleaned = re.sub(r"[^\w .,&()'/+-]", "", " ".join(text.split()))[:limit].strip()
    return cleaned or None


def _username(template: str | None, address: str) -> str | None:
    """The username with placeholders filled; None when it is the address itself."""
    if not template:
        return None
    local, _, domain = address.partition("@")
    name = (
        template.replace("%EMAILADDRESS%", address)
        .replace("%EMAILLOCALPART%", local)
        .replace("%EMAILDOMAIN%", domain)
    )
    if "%" in name or not re.fullmatch(r"[\w.@+-]{1,254}", name):
        return None
    return None if name == address else name


def _server(element: Any, address: str, notes: list[str]) -> Server | None:
    kind = str(element.get("type", "")).lower()
    protocol = _PROTOCOLS.get(kind)
    if protocol is None:
        notes.append(f"skipped a {kind or 'typeless'} server: mailconduit speaks IMAP, POP3 and SMTP")
        return None
    host = _text(element, "hostname") or ""
    port_text = _text(element, "port") or ""
    socket_type = (_text(element, "socketType") or "").lower()
    if not valid_host(host):
        notes.append(f"skipped a {protocol} server with an invalid host name")
        return None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        notes.append(f"skipped {protocol} server {host}: invalid port {port_text[:10]!r}")
        return None
    tls = _SOCKET_TYPES.get(socket_type)
    if tls is None:
        notes.append(f"skipped {protocol} server {host}: unknown socketType {socket_type[:20]!r}")
        return None
    methods = {str(a.text or "").strip().lower() for a in element.findall("authentication")}
    usable = methods & _PASSWORD_AUTH or methods & {"oauth2"} or not methods
    if not usable:
        offered = ", ".join(sorted(m[:30] for m in methods))
        notes.append(f"skipped {protocol} server {host}: no usable authentication ({offered})")
        return None
    return Server(
        protocol=protocol,
        host=host.lower().removesuffix("."),
        port=int(port_text),
        tls=tls,
        username=_username(_text(element, "username"), address),
        oauth_only=bool(methods) and not methods & _PASSWORD_AUTH,
    )


def _rank(server: Server) -> tuple[int, int]:
    tls_rank = {TlsMode.TLS: 0, TlsMode.STARTTLS: 1, TlsMode.NONE: 2}[server.tls]
    return ({"imap": 0, "pop3": 1, "smtp": 0}[server.protocol], tls_rank)


def _sorted(servers: Sequence[Server]) -> tuple[Server, ...]:
    # stable: among equals the document's order (its preference) stays
    return tuple(sorted(servers, key=_rank))


def _nothing(note: str) -> AutoconfigDocument:
    return AutoconfigDocument(display_name=None, domains=(), receive=(), send=(), notes=(note,))


def parse_autoconfig(document: bytes, address: str) -> AutoconfigDocument:
    """Parse ``document`` for ``address``; never raises.

    Servers are ordered IMAP before POP3 and implicit TLS before STARTTLS before plain, keeping the
    document's order otherwise. A document that is not autoconfig XML gives no servers and a note.
    """
    import defusedxml.ElementTree as safe_xml
    from defusedxml import DefusedXmlException

    if len(document) > MAX_DOCUMENT:
        return _nothing(f"the document is larger than {MAX_DOCUMENT // 1024} KiB; not read")
    try:
        root = safe_xml.fromstring(document, forbid_dtd=True)
    except (DefusedXmlException, safe_xml.ParseError, ValueError) as exc:
        return _nothing(f"not usable XML ({type(exc).__name__}: {str(exc)[:120]})")
    provider = root.find("emailProvider") if root.tag == "clientConfig" else None
    if provider is None:
        return _nothing("not an autoconfig document (no clientConfig/emailProvider)")
    notes: list[str] = []
    receive = [s for e in provider.findall("incomingServer") if (s := _server(e, address, notes))]
    send = [s for e in provider.findall("outgoingServer") if (s := _server(e, address, notes))]
    domains = tuple(
        d.text.strip().lower() for d in provider.findall("domain") if d.text and valid_host(d.text.strip())
    )
    return AutoconfigDocument(
        display_name=_one_line(_text(provider, "displayName")),
        domains=domains,
        receive=_sorted(receive),
        send=_sorted(send),
        notes=tuple(notes),
    )
