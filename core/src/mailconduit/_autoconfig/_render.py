"""Render a proposal as a YAML config block (with comments naming the source and quirks) or as JSON.

The block is a whole config document (``accounts:``, plus ``oauth_providers:`` for Microsoft) that
``mailconduit config check`` accepts once the password's environment variable is set; paste its
entries into your own config. Every value that came from the network has passed
:func:`~mailconduit._autoconfig._types.valid_host` or is quoted, so nothing can inject YAML.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from mailconduit._autoconfig._types import AuthKind, Proposal, Server
from mailconduit._model import TlsMode

__all__ = ["account_name", "password_variable", "to_json", "to_yaml"]

_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9._@+-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}
_WIDTH = 100
_PLACEHOLDER_CLIENT_ID = "00000000-0000-0000-0000-000000000000"


def account_name(address: str) -> str:
    """A config key from the address's name part: lower case, ``[a-z0-9_]``, starting with a letter."""
    local = address.rpartition("@")[0].lower()
    name = re.sub(r"[^a-z0-9]+", "_", local).strip("_")[:40] or "mail"
    return name if name[0].isalpha() else f"mail_{name}"


def password_variable(name: str) -> str:
    """The environment variable the rendered block reads the password from."""
    return "MAILCONDUIT_" + re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") + "_PASSWORD"


def _scalar(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    if _PLAIN.match(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def _comment(text: str, indent: str = "") -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, _WIDTH - len(indent) - 2)]


def _username(proposal: Proposal) -> str:
    for server in (proposal.receive, proposal.send):
        if server is not None and server.username:
            return server.username
    return proposal.address


def _server_lines(key: str, server: Server, rate_limit: str | None) -> list[str]:
    lines = [f"    {key}:"]
    if server.tls is TlsMode.NONE:
        lines += _comment("no TLS offered here: the password and mail cross the network in clear", "      ")
    lines += [
        f"      protocol: {server.protocol}",
        f"      host: {_scalar(server.host)}",
        f"      port: {server.port}",
        f"      tls: {server.tls.value}",
    ]
    if rate_limit:
        lines.append(f"      rate_limit: {rate_limit}  # the provider's own sending limit")
    return lines


def _tenant(proposal: Proposal) -> str:
    if proposal.provider is not None and proposal.provider.entra_tenant:
        return proposal.provider.entra_tenant
    return proposal.domain


def _oauth_provider_name(proposal: Proposal) -> str:
    """``outlook_com`` for a fixed tenant (personal Microsoft accounts), else from the domain."""
    if proposal.provider is not None and proposal.provider.entra_tenant:
        return proposal.provider.key
    return re.sub(r"[^a-z0-9]+", "_", _tenant(proposal).lower()).strip("_") or "entra"


def _auth_lines(proposal: Proposal, name: str) -> list[str]:
    if proposal.auth is AuthKind.ENTRA_OAUTH:
        return [f"    auth: {{method: entra_oauth, provider: {_oauth_provider_name(proposal)}}}"]
    why = {
        AuthKind.PASSWORD: "the mailbox password",
        AuthKind.APP_PASSWORD: "an app password, not the account password (see above)",
        AuthKind.BRIDGE_PASSWORD: "the Bridge password Proton Mail Bridge shows",
        AuthKind.OAUTH_UNSUPPORTED: "this server wants OAuth 2.0, which mailconduit has only for "
        "Microsoft Entra ID: a password is likely refused",
    }[proposal.auth]
    return [
        "    auth:",
        "      method: password",
        f"      username: {_scalar(_username(proposal))}",
        f"      password: ${{env:{password_variable(name)}}}  # {why}",
    ]


def _header(proposal: Proposal) -> list[str]:
    lines = [f"# mailconduit autoconfig for {_scalar(proposal.address)}"]
    lines += _comment(f"Source: {proposal.source_detail}")
    for quirk in proposal.quirks:
        lines += _comment(quirk)
    if proposal.alternatives:
        lines += _comment("Also offered: " + "; ".join(s.describe() for s in proposal.alternatives))
    for note in proposal.notes:
        lines += _comment(f"Note: {note}")
    return lines


def to_yaml(proposal: Proposal, name: str | None = None) -> str:
    """The config block for ``proposal``, its account named ``name`` (default from the address)."""
    name = name or account_name(proposal.address)
    lines = _header(proposal)
    if proposal.auth is AuthKind.ENTRA_OAUTH:
        lines += [
            "oauth_providers:",
            f"  {_oauth_provider_name(proposal)}:",
            "    type: entra  # needs the entra_oauth plugin: pip install mailconduit-entra-oauth",
            f"    tenant: {_scalar(_tenant(proposal))}  # the directory (tenant) id or a verified domain",
            f"    client_id: {_PLACEHOLDER_CLIENT_ID}  # REPLACE with your app registration's client id",
            "    flow: authorization_code  # device_code on machines without a browser; "
            "client_credentials for service mailboxes",
        ]
    lines += ["accounts:", f"  {name}:", f"    email: {_scalar(proposal.address)}"]
    lines += _auth_lines(proposal, name)
    provider = proposal.provider
    if provider is not None and provider.ca_file_hint:
        lines.append(f"    # ca_file: {provider.ca_file_hint}  # the certificate exported from the bridge")
    if proposal.send is not None:
        lines += _server_lines("send", proposal.send, provider.rate_limit if provider else None)
    if proposal.receive is not None:
        lines += _server_lines("receive", proposal.receive, None)
    return "\n".join(lines) + "\n"


def to_json(proposal: Proposal, name: str | None = None) -> dict[str, Any]:
    """The JSON form: the settings, where they came from, quirks, notes and the YAML block."""
    name = name or account_name(proposal.address)
    provider = proposal.provider
    return {
        "address": proposal.address,
        "account": name,
        "source": proposal.source.value,
        "source_detail": proposal.source_detail,
        "provider": None if provider is None else {"key": provider.key, "name": provider.name},
        "auth": proposal.auth.value,
        "password_variable": None if proposal.auth is AuthKind.ENTRA_OAUTH else password_variable(name),
        "send": proposal.send.as_dict() if proposal.send else None,
        "receive": proposal.receive.as_dict() if proposal.receive else None,
        "alternatives": [s.as_dict() for s in proposal.alternatives],
        "rate_limit": provider.rate_limit if provider else None,
        "quirks": list(proposal.quirks),
        "notes": list(proposal.notes),
        "yaml": to_yaml(proposal, name),
    }
