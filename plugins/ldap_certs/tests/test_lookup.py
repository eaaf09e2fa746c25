"""Certificates looked up in a real slapd: found by exact mail, cached, StartTLS and LDAPS verified (H1)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mailconduit import Address, AuthenticationError, Secret, TlsError, TlsMode
from mailconduit.testing import SlapdServer, canary, issue_server_cert
from mailconduit_ldap_certs import ExpiringCache, SimpleBind, lookup_certificates

from .conftest import MakeAccount, email_cert


@pytest.mark.parametrize("tls", [TlsMode.STARTTLS, TlsMode.TLS])
def test_finds_the_certificate_by_mail(
    slapd: SlapdServer, test_ca: Any, make_account: MakeAccount, tls: TlsMode
) -> None:
    address = f"found-{tls.value}@example.test"
    der = email_cert(test_ca, address)
    slapd.add_entry(address, [der])
    answer = lookup_certificates([Address(address)], make_account(tls))
    assert answer is not None
    (certificate,) = answer[Address(address)]
    assert certificate.der == der and certificate.source == "ldap"
    assert certificate.names(address)


def test_user_smime_certificate_is_read_too(
    slapd: SlapdServer, test_ca: Any, make_account: MakeAccount
) -> None:
    address = "smime-attr@example.test"
    der = email_cert(test_ca, address)
    slapd.add_entry(address, smime_certificates=[der])
    answer = lookup_certificates([Address(address)], make_account())
    assert answer is not None and [c.der for c in answer[Address(address)]] == [der]


def test_unknown_address_gives_nothing(make_account: MakeAccount) -> None:
    assert lookup_certificates([Address("nobody@example.test")], make_account()) is None


def test_answers_are_cached_until_they_expire(
    slapd: SlapdServer, test_ca: Any, make_account: MakeAccount
) -> None:
    now = [0.0]
    cache: ExpiringCache[Any] = ExpiringCache(60, clock=lambda: now[0])
    address = "cached@example.test"
    account = make_account(cache_for=timedelta(seconds=60))
    before = len(slapd.logged_filters())
    assert lookup_certificates([Address(address)], account, cache=cache) is None
    slapd.add_entry(address, [email_cert(test_ca, address)])
    assert lookup_certificates([Address(address)], account, cache=cache) is None  # the cached miss
    searches = [f for f in slapd.logged_filters()[before:] if f == "(mail=cached@example.test)"]
    assert len(searches) == 1
    now[0] = 61.0
    assert lookup_certificates([Address(address)], account, cache=cache) is not None


def test_simple_bind_and_a_wrong_password(slapd: SlapdServer, make_account: MakeAccount) -> None:
    good = SimpleBind(user=slapd.root_dn, password=Secret(slapd.root_password))
    assert lookup_certificates([Address("nobody@example.test")], make_account(bind=good)) is None
    wrong = canary("password")
    bad = SimpleBind(user=slapd.root_dn, password=Secret(wrong))
    with pytest.raises(AuthenticationError) as caught:
        lookup_certificates([Address("wrong-password@example.test")], make_account(bind=bad))
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)


@pytest.mark.parametrize("tls", [TlsMode.STARTTLS, TlsMode.TLS])
def test_untrusted_ca_is_refused(
    make_account: MakeAccount, tls: TlsMode, tmp_path: Path, test_ca: Any
) -> None:
    other = issue_server_cert(test_ca, tmp_path, "unknown_ca")  # a CA file of another authority
    for ca_file in (None, str(other.cert)):
        with pytest.raises(TlsError):
            lookup_certificates([Address("x@example.test")], make_account(tls, ca_file=ca_file))


@pytest.mark.parametrize("tls", [TlsMode.STARTTLS, TlsMode.TLS])
def test_wrong_host_is_refused(test_ca: Any, make_account: MakeAccount, tls: TlsMode) -> None:
    with SlapdServer(test_ca, cert_kind="wrong_host") as server, pytest.raises(TlsError):
        lookup_certificates([Address("x@example.test")], make_account(tls, server=server))
