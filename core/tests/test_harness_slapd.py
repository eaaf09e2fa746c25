"""The slapd fixture: StartTLS and LDAPS verified with the test CA, entries added live, filters logged."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from mailconduit.testing import SlapdServer

ldap3 = pytest.importorskip("ldap3")


def _certificate(test_ca: Any, address: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = test_ca.issue_cert(address).cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


@pytest.mark.parametrize("ldaps", [False, True], ids=["starttls", "ldaps"])
def test_entries_are_found_over_verified_tls(
    slapd: SlapdServer, test_ca: Any, ca_pem: Path, ldaps: bool
) -> None:
    address = f"harness-{'ldaps' if ldaps else 'starttls'}@example.test"
    der = _certificate(test_ca, address)
    dn = slapd.add_entry(address, [der])
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_pem))
    server = ldap3.Server(slapd.ldaps_url if ldaps else slapd.url, tls=tls)
    conn = ldap3.Connection(server)
    conn.open()
    if not ldaps:
        assert conn.start_tls()
    assert conn.bind()
    assert conn.search(slapd.suffix, f"(mail={address})", attributes=["userCertificate;binary"])
    (entry,) = conn.response
    assert entry["dn"] == dn and entry["raw_attributes"]["userCertificate;binary"] == [der]
    conn.unbind()
    assert f"(mail={address})" in slapd.logged_filters()


def test_untrusted_ca_is_refused(slapd: SlapdServer) -> None:
    from ldap3.core.exceptions import LDAPSocketOpenError

    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED)  # system CAs only
    with pytest.raises(LDAPSocketOpenError):
        ldap3.Connection(ldap3.Server(slapd.ldaps_url, tls=tls), auto_bind=True)
