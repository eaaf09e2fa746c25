"""Fixtures of the ldap_certs plugin's tests: accounts pointing at the harness slapd, e-mail certificates.

``slapd``, ``test_ca`` and ``ca_pem`` come from ``mailconduit.testing`` (enabled by the repository's
conftest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mailconduit import Account, TlsMode
from mailconduit.testing import SlapdServer
from mailconduit_ldap_certs import CACHE, LdapSettings

MakeAccount = Callable[..., Account]


def email_cert(ca: Any, address: str) -> bytes:
    """DER of a certificate from the test CA naming ``address`` (SAN rfc822Name)."""
    pem = ca.issue_cert(address).cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


@pytest.fixture
def make_account(slapd: SlapdServer, ca_pem: Path) -> MakeAccount:
    """An account whose ``ldap:`` reaches the harness slapd (StartTLS, trusting the test CA by default)."""

    def make(
        tls: TlsMode | str = TlsMode.STARTTLS,
        *,
        host: str = "127.0.0.1",
        ca_file: str | None = "default",
        server: SlapdServer | None = None,
        **settings: Any,
    ) -> Account:
        target = server or slapd
        port = target.tls_port if TlsMode(tls) is TlsMode.TLS else target.port
        return Account(
            name="support",
            email="support@example.test",
            ca_file=str(ca_pem) if ca_file == "default" else ca_file,
            sections={"ldap": LdapSettings(host=host, port=port, tls=TlsMode(tls), **settings)},
        )

    return make
