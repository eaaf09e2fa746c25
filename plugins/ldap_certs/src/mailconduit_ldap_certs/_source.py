"""Looking recipient certificates up in an account's directory, with an expiring cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mailconduit import Account, Address, Certificate, ConfigError
from mailconduit_ldap_certs._cache import ExpiringCache
from mailconduit_ldap_certs._certs import certificates_from_value
from mailconduit_ldap_certs._filter import CERTIFICATE_ATTRIBUTES, mail_filter
from mailconduit_ldap_certs._settings import LdapSettings, SimpleBind, effective_port

__all__ = ["CACHE", "lookup_certificates"]

CACHE: ExpiringCache[tuple[Certificate, ...]] = ExpiringCache(3600)
"""Answers per (server, base, bind identity, address); each entry lives ``ldap.cache_for``."""


def _base(conn: object, settings: LdapSettings, account: Account) -> str:
    from mailconduit_ldap_certs._client import naming_contexts

    if settings.base_dn:
        return settings.base_dn
    contexts = naming_contexts(conn)  # type: ignore[arg-type]
    if not contexts:
        raise ConfigError(
            [(f"accounts.{account.name}.ldap.base_dn", "the server announces no naming context; set base_dn")]
        )
    return contexts[0]


def lookup_certificates(
    addresses: Sequence[Address], account: Account, *, cache: ExpiringCache[tuple[Certificate, ...]] = CACHE
) -> Mapping[Address, Sequence[Certificate]] | None:
    """Certificates the directory holds for each address (entries whose ``mail`` is exactly it).

    Values are escaped into the filter (RFC 4515); entries whose ``mail`` differs from the address,
    and certificates that do not name it, are dropped. Answers are cached for ``ldap.cache_for``.
    """
    from mailconduit_ldap_certs._client import connect, search_values

    settings = account.section("ldap", LdapSettings)
    if settings is None:
        return None
    who = settings.bind.user if isinstance(settings.bind, SimpleBind) else "anonymous"
    server = (settings.host, effective_port(settings), settings.base_dn, who)
    ttl = settings.cache_for.total_seconds()
    answer: dict[Address, list[Certificate]] = {}
    missing: list[Address] = []
    for address in addresses:
        hit, cached = cache.get((*server, address.addr_spec.lower()))
        if hit and cached is not None:
            if cached:
                answer[address] = list(cached)
        else:
            missing.append(address)
    if missing:
        where = f"LDAP server {settings.host}:{effective_port(settings)}"
        with connect(settings, account) as conn:
            base = _base(conn, settings, account)
            for address in missing:
                wanted = address.addr_spec.lower()
                found: list[Certificate] = []
                for entry in search_values(
                    conn, base, mail_filter(address.addr_spec), CERTIFICATE_ATTRIBUTES, where=where
                ):
                    if wanted not in {m.decode("utf-8", "replace").lower() for m in entry.get("mail", [])}:
                        continue
                    for name in ("usercertificate;binary", "usercertificate", "usersmimecertificate"):
                        for value in entry.get(name, []):
                            found.extend(
                                c
                                for c in certificates_from_value(value)
                                if c.names(address) and c not in found
                            )
                cache.ttl = ttl
                cache.put((*server, wanted), tuple(found))
                if found:
                    answer[address] = found
    return answer or None
