"""L3: expired, not-yet-valid, revoked, wrong-usage, wrong-address and missing certificates are
per-recipient errors; with require_encryption nothing is sent in plaintext."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mailconduit import Address, Certificate
from mailconduit_smime import AccountKeys, EncryptSettings, EncryptTransform, RecipientCertificateError
from mailconduit_smime._certs import certificate_facts
from mailconduit_smime._settings import SmimeSettings

from .conftest import DAY, NOW, Identity, MakeAccount, Pki, message

OpenSsl = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="module")
def people(pki: Pki) -> dict[str, Identity]:
    return {
        "good": pki.issue("good@example.test"),
        "expired": pki.issue("expired@example.test", not_before=NOW - 90 * DAY, not_after=NOW - DAY),
        "future": pki.issue("future@example.test", not_before=NOW + 10 * DAY, not_after=NOW + 90 * DAY),
        "revoked": pki.issue("revoked@example.test"),
        "usage": pki.issue("usage@example.test", usage={"digital_signature": True}),
        "ec-usage": pki.issue("ec-usage@example.test", kind="ec", usage={"digital_signature": True}),
        "ed25519": pki.issue("ed25519@example.test", kind="ed25519"),
    }


def _encrypt(
    make_account: MakeAccount,
    alice: Identity,
    pki: Pki,
    people: dict[str, Identity],
    tmp_path: Path,
    *,
    required: bool,
) -> EncryptTransform:
    crl = pki.crl(tmp_path / "ca.crl", [people["revoked"].cert])
    account = make_account(alice, encrypt=EncryptSettings(), crls=str(crl), require_encryption=required)
    table: dict[str, list[Certificate]] = {
        p.address: [certificate_facts(p.cert, "ldap")] for p in people.values()
    }
    table["mismatch@example.test"] = [certificate_facts(people["good"].cert, "ldap")]

    def lookup(addresses: list[Address]) -> dict[Address, list[Certificate]]:
        return {a: table.get(a.addr_spec, []) for a in addresses}

    keys = AccountKeys("alice", account.section("smime", SmimeSettings))  # type: ignore[arg-type]
    return EncryptTransform(account, keys, lookup=lookup)


EXPECTED = {
    "expired@example.test": "expired on",
    "future@example.test": "not valid before",
    "revoked@example.test": "revoked on",
    "usage@example.test": "does not allow keyEncipherment",
    "ec-usage@example.test": "does not allow keyAgreement",
    "ed25519@example.test": "only RSA and EC keys",
    "mismatch@example.test": "not this address",
    "missing@example.test": "no certificate found",
}


def test_every_unusable_recipient_gets_its_own_error_and_nothing_is_sent(
    make_account: MakeAccount, alice: Identity, pki: Pki, people: dict[str, Identity], tmp_path: Path
) -> None:
    encrypt = _encrypt(make_account, alice, pki, people, tmp_path, required=True)
    to = ", ".join(["good@example.test", *EXPECTED])
    with pytest.raises(RecipientCertificateError) as caught:
        encrypt.apply(message(to=to))
    problems = caught.value.problems
    assert set(problems) == set(EXPECTED)
    for address, words in EXPECTED.items():
        assert words in problems[address], (address, problems[address])
        assert address in str(caught.value)


def test_the_good_recipient_alone_is_encrypted(
    make_account: MakeAccount, alice: Identity, pki: Pki, people: dict[str, Identity], tmp_path: Path
) -> None:
    encrypt = _encrypt(make_account, alice, pki, people, tmp_path, required=True)
    result = encrypt.apply(message(to="good@example.test"))
    assert result.annotations["smime.encrypted"] == "yes" and b"the invoice" not in result.data


def test_without_require_encryption_the_problems_are_recorded(
    make_account: MakeAccount, alice: Identity, pki: Pki, people: dict[str, Identity], tmp_path: Path
) -> None:
    encrypt = _encrypt(make_account, alice, pki, people, tmp_path, required=False)
    result = encrypt.apply(message(to="good@example.test, expired@example.test"))
    assert result.annotations["smime.encrypted"] == "no"
    assert "expired on" in result.annotations["smime.recipient_error.expired@example.test"]


def test_choice_prefers_the_longest_valid(pki: Pki) -> None:
    from mailconduit_smime import choose_certificate

    short = pki.issue("two@example.test", not_after=NOW + 10 * DAY)
    long = pki.issue("two@example.test", not_after=NOW + 300 * DAY)
    offered = [certificate_facts(c.cert, "files") for c in (short, long)]
    choice = choose_certificate(Address("two@example.test"), offered, now=dt.datetime.now(dt.UTC))
    assert choice.certificate is not None and choice.certificate.der == long.der


def test_envelope_recipients_replace_the_headers_bcc_included(
    make_account: MakeAccount,
    alice: Identity,
    pki: Pki,
    people: dict[str, Identity],
    tmp_path: Path,
    openssl: OpenSsl,
) -> None:
    encrypt = _encrypt(make_account, alice, pki, people, tmp_path, required=True)
    good = people["good"]
    hidden = pki.issue("hidden@example.test", kind="ec")
    table_lookup = encrypt._lookup
    assert table_lookup is not None
    encrypt._lookup = lambda addresses: {
        **table_lookup(addresses),
        **{a: [certificate_facts(hidden.cert, "ldap")] for a in addresses if a.addr_spec == hidden.address},
    }
    data = message(to=good.address)  # the bytes name only the To recipient
    result = encrypt.apply(data, recipients=[Address(good.address), Address(hidden.address)])
    assert result.annotations["smime.recipients"] == f"{good.address}, {hidden.address}"
    (tmp_path / "m.eml").write_bytes(result.data)
    done = openssl(
        "cms", "-decrypt", "-in", tmp_path / "m.eml", "-recip", hidden.cert_pem, "-inkey", hidden.key_pem
    )
    assert done.returncode == 0, done.stderr
    assert b"the invoice is attached" in done.stdout
    with pytest.raises(RecipientCertificateError) as caught:  # a Bcc recipient without a certificate
        encrypt.apply(data, recipients=[Address(good.address), Address("missing@example.test")])
    assert set(caught.value.problems) == {"missing@example.test"}
