"""The ldap_certs plugin passes the CertificateSourceContract against the harness slapd."""

from __future__ import annotations

from typing import Any

import pytest

from mailconduit import Account, Address
from mailconduit.testing import CertificateSourceContract, SlapdServer
from mailconduit_ldap_certs import plugin

from .conftest import MakeAccount, email_cert


class TestLdapCertificateSource(CertificateSourceContract):
    @pytest.fixture
    def source(self) -> object:
        return plugin

    @pytest.fixture
    def known_address(self, slapd: SlapdServer, test_ca: Any) -> Address:
        address = "contract-known@example.test"
        slapd.add_entry(address, [email_cert(test_ca, address)])
        return Address(address)

    @pytest.fixture
    def account(self, make_account: MakeAccount) -> Account:
        return make_account()
