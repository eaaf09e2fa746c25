"""Account set-up help: propose server settings for an address (``mailconduit autoconfig``).

Sources, most trusted first: the built-in provider table (by address domain), the domain's
Thunderbird-style autoconfig document over HTTPS, DNS SRV records (RFC 6186 / RFC 8314), and the
provider behind the domain's MX hosts. Everything but ``_lookup`` is pure and works offline.
"""

from __future__ import annotations

from mailconduit._autoconfig._propose import Findings, check_address, from_provider, propose
from mailconduit._autoconfig._providers import PROVIDERS, by_domain, by_mx
from mailconduit._autoconfig._render import account_name, password_variable, to_json, to_yaml
from mailconduit._autoconfig._srv import SERVICES, SrvRecord, choose_srv
from mailconduit._autoconfig._types import AuthKind, Proposal, Provider, Server, Source, valid_host
from mailconduit._autoconfig._xml import AutoconfigDocument, parse_autoconfig

__all__ = [
    "PROVIDERS",
    "SERVICES",
    "AuthKind",
    "AutoconfigDocument",
    "Findings",
    "Proposal",
    "Provider",
    "Server",
    "Source",
    "SrvRecord",
    "account_name",
    "by_domain",
    "by_mx",
    "check_address",
    "choose_srv",
    "from_provider",
    "parse_autoconfig",
    "password_variable",
    "propose",
    "to_json",
    "to_yaml",
    "valid_host",
]
