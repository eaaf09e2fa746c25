"""mailconduit-ldap-certs: recipient certificates from an LDAP directory, for S/MIME encryption.

Installed, it registers itself through the ``mailconduit.plugins`` entry point. An account opts in
with an ``ldap:`` section::

    ldap:
      host: ldap.contoso.com
      port: 389
      tls: starttls            # none | starttls | tls
      bind: anonymous          # or {user: DN, password: ${env:LDAP_PASS}}
      base_dn: null            # default: the first naming context

ldap3 and cryptography are imported only when a lookup runs.
"""

from __future__ import annotations

from mailconduit_ldap_certs._cache import ExpiringCache
from mailconduit_ldap_certs._filter import CERTIFICATE_ATTRIBUTES, escape_filter_value, mail_filter
from mailconduit_ldap_certs._settings import LdapSettings, SimpleBind, effective_port
from mailconduit_ldap_certs._source import CACHE, lookup_certificates

__all__ = [
    "CACHE",
    "CERTIFICATE_ATTRIBUTES",
    "ExpiringCache",
    "LdapSettings",
    "SimpleBind",
    "effective_port",
    "escape_filter_value",
    "lookup_certificates",
    "mail_filter",
]
__version__ = "0.1.0"
