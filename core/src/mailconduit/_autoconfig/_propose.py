"""Turn what the sources found into one proposal: the table first, then autoconfig, SRV, MX.

Pure: the network lookups (``_lookup``) hand their findings in; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define, field

from mailconduit._autoconfig._providers import by_domain, by_mx
from mailconduit._autoconfig._types import AuthKind, Proposal, Provider, Server, Source, valid_host
from mailconduit._autoconfig._xml import AutoconfigDocument

__all__ = ["Findings", "check_address", "from_provider", "propose"]

_MICROSOFT_HOSTS = (".office365.com", ".outlook.com")


def check_address(address: str) -> str:
    """Return ``address`` with its domain in lower case, or raise ValueError saying what is wrong."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{address!r} is not an e-mail address (expected name@domain)")
    if not valid_host(domain) or "." not in domain.strip("."):
        raise ValueError(f"{address!r}: {domain!r} is not a mail domain")
    if any(ch.isspace() or ord(ch) < 32 for ch in local):
        raise ValueError(f"{address!r}: the name part holds spaces or control characters")
    return f"{local}@{domain.lower().removesuffix('.')}"


@define(kw_only=True)
class Findings:
    """What the network lookups found for a domain.

    Attributes:
        autoconfig: (URL, parsed document) for each document fetched, in the order tried.
        srv_receive: receive servers from SRV records, best first.
        srv_send: send servers from SRV records, best first.
        srv_names: the SRV names that answered.
        mx_hosts: the MX hosts, most preferred first.
        notes: failures and skips, in the order they happened.
    """

    autoconfig: list[tuple[str, AutoconfigDocument]] = field(factory=list)
    srv_receive: list[Server] = field(factory=list)
    srv_send: list[Server] = field(factory=list)
    srv_names: list[str] = field(factory=list)
    mx_hosts: list[str] = field(factory=list)
    notes: list[str] = field(factory=list)


def _pick(servers: Sequence[Server], prefer: str | None) -> Server | None:
    if prefer is not None:
        for server in servers:
            if server.protocol == prefer:
                return server
    return servers[0] if servers else None


def _alternatives(chosen: Sequence[Server | None], *lists: Sequence[Server]) -> tuple[Server, ...]:
    seen: list[Server] = []
    for servers in lists:
        for server in servers:
            if server not in chosen and server not in seen:
                seen.append(server)
    return tuple(seen)


def from_provider(
    address: str,
    provider: Provider,
    *,
    source: Source = Source.TABLE,
    detail: str | None = None,
    notes: Sequence[str] = (),
    prefer: str | None = None,
) -> Proposal:
    """A proposal from a built-in table entry (found by domain, or by MX with ``source=Source.MX``)."""
    receive = _pick(provider.receive, prefer)
    send = _pick(provider.send, None)
    return Proposal(
        address=address,
        source=source,
        source_detail=detail or f"built-in provider table: {provider.name}",
        provider=provider,
        receive=receive,
        send=send,
        alternatives=_alternatives([receive, send], provider.receive, provider.send),
        auth=provider.auth,
        quirks=provider.quirks,
        notes=tuple(notes),
    )


def _auth_for(servers: Sequence[Server | None]) -> AuthKind:
    present = [s for s in servers if s is not None]
    if present and all(s.oauth_only for s in present):
        if all(s.host.endswith(_MICROSOFT_HOSTS) for s in present):
            return AuthKind.ENTRA_OAUTH
        return AuthKind.OAUTH_UNSUPPORTED
    return AuthKind.PASSWORD


def _from_servers(
    address: str,
    source: Source,
    detail: str,
    servers: tuple[Sequence[Server], Sequence[Server]],
    *,
    mx: tuple[Provider, str] | None,
    notes: list[str],
    prefer: str | None,
) -> Proposal:
    receive_list, send_list = servers
    receive, send = _pick(receive_list, prefer), _pick(send_list, None)
    provider: Provider | None = None
    auth, quirks = _auth_for([receive, send]), tuple[str, ...]()
    if mx is not None:
        known_hosts = {s.host for s in (*mx[0].receive, *mx[0].send)}
        if any(s is not None and s.host in known_hosts for s in (receive, send)):
            provider, auth, quirks = mx[0], mx[0].auth, mx[0].quirks
    return Proposal(
        address=address,
        source=source,
        source_detail=detail,
        provider=provider,
        receive=receive,
        send=send,
        alternatives=_alternatives([receive, send], receive_list, send_list),
        auth=auth,
        quirks=quirks,
        notes=tuple(notes),
    )


def propose(address: str, findings: Findings | None = None, *, prefer: str | None = None) -> Proposal | None:
    """The best proposal for ``address``: built-in table, then autoconfig, then SRV, then MX.

    ``findings`` are the network lookups' results (None when offline). ``prefer`` (``imap`` or
    ``pop3``) picks the receive protocol when the source offers both. None when nothing is known.
    """
    address = check_address(address)
    domain = address.rpartition("@")[2]
    known = by_domain(domain)
    if known is not None:
        return from_provider(address, known, prefer=prefer, notes=findings.notes if findings else ())
    if findings is None:
        return None
    notes = list(findings.notes)
    mx = by_mx(findings.mx_hosts)
    if mx is not None:
        notes.append(f"MX {mx[1]} belongs to {mx[0].name}")
    for url, document in findings.autoconfig:
        if document.receive or document.send:
            detail = f"autoconfig {url}" + (f" ({document.display_name})" if document.display_name else "")
            servers = (document.receive, document.send)
            return _from_servers(
                address, Source.AUTOCONFIG, detail, servers, mx=mx, notes=notes, prefer=prefer
            )
    if findings.srv_receive or findings.srv_send:
        detail = "DNS SRV " + ", ".join(findings.srv_names)
        found = (findings.srv_receive, findings.srv_send)
        return _from_servers(address, Source.SRV, detail, found, mx=mx, notes=notes, prefer=prefer)
    if mx is not None:
        detail = f"MX {mx[1]} -> {mx[0].name}"
        return from_provider(address, mx[0], source=Source.MX, detail=detail, notes=notes, prefer=prefer)
    return None
