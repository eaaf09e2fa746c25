"""Hook implementations of the ``ldap_certs`` plugin: the ``ldap:`` section, certificate lookup, commands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mailconduit import Account, Address, Certificate, RegisterCommand, RegisterSection, hookimpl
from mailconduit_ldap_certs._settings import LdapSettings


@hookimpl
def register_config_sections(register: RegisterSection) -> None:
    """Register the per-account ``ldap:`` section."""
    register("ldap", LdapSettings)


@hookimpl
def recipient_certificates(
    addresses: Sequence[Address], account: Account
) -> Mapping[Address, Sequence[Certificate]] | None:
    """Search the account's directory for the recipients' certificates (None without ``ldap:``)."""
    if account.section("ldap", LdapSettings) is None:
        return None
    from mailconduit_ldap_certs._source import lookup_certificates

    return lookup_certificates(addresses, account)


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    """``mailconduit ldap base-dns ACCOUNT`` and ``mailconduit certs lookup ADDRESS --account A``."""
    register("ldap", "mailconduit_ldap_certs._cli:ldap", help="Inspect an account's LDAP directory.")
    register("certs", "mailconduit_ldap_certs._cli:certs", help="Look up recipient certificates.")
