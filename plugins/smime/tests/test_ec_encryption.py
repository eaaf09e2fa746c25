"""L1 for EC keys: ECDH key agreement (RFC 5753) with ``openssl cms`` as the peer, both directions.

Mail encrypted here for EC recipients (P-256, P-384, P-521; alone or mixed with RSA recipients)
decrypts with ``openssl cms -decrypt``; mail ``openssl cms -encrypt`` made for EC certificates
(openssl's default SHA-1 KDF, SHA-256/384/512 KDFs, the cofactor scheme, subject key identifiers,
AES-GCM AuthEnvelopedData, mixed with RSA) decrypts here. What cannot be opened is named, and the
raw bytes are kept.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mailconduit import Account
from mailconduit_smime import AccountKeys, DecryptTransform, EncryptTransform, SignTransform, transforms_for
from mailconduit_smime._decrypt import find_enveloped
from mailconduit_smime._settings import SmimeSettings

from .conftest import Identity, MakeAccount, Pki, lookup_for, message

OpenSsl = Callable[..., subprocess.CompletedProcess[bytes]]
BODY = b"the invoice is attached"


def _keys(account: Account) -> AccountKeys:
    settings = account.section("smime", SmimeSettings)
    assert settings is not None
    return AccountKeys(account.name, settings)


def _decrypt_here(make_account: MakeAccount, who: Identity, data: bytes) -> Any:
    decrypt = next(t for t in transforms_for(make_account(who)) if isinstance(t, DecryptTransform))
    return decrypt.apply(data)


def _openssl_decrypts(openssl: OpenSsl, path: Path, who: Identity) -> bytes:
    done = openssl("cms", "-decrypt", "-in", path, "-recip", who.cert_pem, "-inkey", who.key_pem)
    assert done.returncode == 0, (who.address, done.stderr)
    return bytes(done.stdout)


@pytest.fixture(scope="module")
def carol(pki: Pki) -> Identity:
    """An EC (P-256) recipient."""
    return pki.issue("carol-ec@example.test", kind="ec")


@pytest.mark.parametrize(
    ("kind", "scheme"),
    [
        ("ec", b"dhSinglePass-stdDH-sha256kdf-scheme"),
        ("ec384", b"dhSinglePass-stdDH-sha384kdf-scheme"),
        ("ec521", b"dhSinglePass-stdDH-sha512kdf-scheme"),
    ],
)
def test_encrypted_here_for_an_ec_recipient_decrypts_with_openssl(
    pki: Pki,
    make_account: MakeAccount,
    alice: Identity,
    openssl: OpenSsl,
    tmp_path: Path,
    kind: str,
    scheme: bytes,
) -> None:
    dora = pki.issue(f"dora-{kind}@example.test", kind=kind)
    account = make_account(alice)
    encrypt = EncryptTransform(account, _keys(account), lookup=lookup_for(dora), required=True)
    result = encrypt.apply(message(to=dora.address))
    assert result.annotations["smime.encrypted"] == "yes", result.annotations
    assert BODY not in result.data and b"smime-type=enveloped-data" in result.data
    (tmp_path / "m.eml").write_bytes(result.data)
    for who in (dora, alice):  # the EC recipient, and the (RSA) sender's own copy
        assert BODY in _openssl_decrypts(openssl, tmp_path / "m.eml", who)
    printed = openssl("cms", "-cmsout", "-print", "-in", tmp_path / "m.eml").stdout
    assert scheme in printed and b"id-aes256-wrap" in printed and b"aes-256-cbc" in printed
    assert b"d.kari" in printed and b"d.ktri" in printed


def test_mixed_rsa_and_ec_recipients_here_each_decrypt_with_openssl_and_here(
    pki: Pki,
    make_account: MakeAccount,
    alice: Identity,
    bob: Identity,
    carol: Identity,
    openssl: OpenSsl,
    tmp_path: Path,
) -> None:
    erin = pki.issue("erin-ec384@example.test", kind="ec384")
    account = make_account(alice)
    encrypt = EncryptTransform(account, _keys(account), lookup=lookup_for(bob, carol, erin), required=True)
    result = encrypt.apply(message(to=f"{bob.address}, {carol.address}, {erin.address}"))
    named = set(result.annotations["smime.recipients"].split(", "))
    assert named == {bob.address, carol.address, erin.address}
    (tmp_path / "m.eml").write_bytes(result.data)
    for who in (bob, carol, erin, alice):
        assert BODY in _openssl_decrypts(openssl, tmp_path / "m.eml", who)
        opened = _decrypt_here(make_account, who, result.data)
        assert opened.annotations["smime.decrypted"] == "yes", (who.address, opened.annotations)
        assert BODY in opened.data
    # the recipient entries: two RSA key transports (bob, alice), two EC key agreements
    printed = openssl("cms", "-cmsout", "-print", "-in", tmp_path / "m.eml").stdout
    assert printed.count(b"d.ktri") == 2 and printed.count(b"d.kari") == 2


def test_ec_sender_signs_and_encrypts_and_openssl_opens_and_verifies(
    pki: Pki, make_account: MakeAccount, carol: Identity, openssl: OpenSsl, tmp_path: Path
) -> None:
    frank = pki.issue("frank-ec@example.test", kind="ec")
    account = make_account(frank)
    keys = _keys(account)
    signed = SignTransform(keys).apply(message(to=carol.address)).data
    sealed = EncryptTransform(account, keys, lookup=lookup_for(carol), required=True).apply(signed).data
    (tmp_path / "m.eml").write_bytes(sealed)
    for who in (carol, frank):  # the recipient, and the EC sender's own copy
        (tmp_path / "inner.eml").write_bytes(_openssl_decrypts(openssl, tmp_path / "m.eml", who))
        verified = openssl("cms", "-verify", "-in", tmp_path / "inner.eml", "-CAfile", pki.ca_pem)
        assert verified.returncode == 0, verified.stderr
        assert BODY in verified.stdout
    # and here, as carol: decrypt then verify
    data, notes = sealed, {}
    incoming = [t for t in transforms_for(make_account(carol)) if t.direction == "incoming"]
    incoming.sort(key=lambda t: t.stage)
    for transform in incoming:
        step = transform.apply(data)
        data, notes = step.data, {**notes, **step.annotations}
    assert notes["smime.decrypted"] == "yes" and notes["smime.signature"] == "valid", notes
    assert notes["smime.signer"] == frank.address and notes["smime.chain"] == "trusted"
    assert notes["smime.key_method"].startswith("ECDH dhSinglePass-stdDH-sha256kdf-scheme")


@pytest.mark.parametrize(
    ("kind", "options", "cipher", "method"),
    [
        ("ec", [], "-aes256", "dhSinglePass-stdDH-sha1kdf-scheme, aes256_wrap"),
        ("ec", ["-keyopt", "ecdh_kdf_md:sha256"], "-aes256", "stdDH-sha256kdf-scheme, aes256_wrap"),
        ("ec", ["-keyopt", "ecdh_kdf_md:sha256"], "-aes128", "stdDH-sha256kdf-scheme, aes128_wrap"),
        ("ec", ["-keyopt", "ecdh_cofactor_mode:1"], "-aes256", "dhSinglePass-cofactorDH-sha1kdf-scheme"),
        ("ec384", ["-keyopt", "ecdh_kdf_md:sha384"], "-aes256", "dhSinglePass-stdDH-sha384kdf-scheme"),
        ("ec521", ["-keyopt", "ecdh_kdf_md:sha512"], "-aes192", "dhSinglePass-stdDH-sha512kdf-scheme"),
        ("ec", ["-keyid"], "-aes256", "dhSinglePass-stdDH-sha1kdf-scheme"),
        ("ec", ["-keyopt", "ecdh_kdf_md:sha256"], "-aes-256-gcm", "stdDH-sha256kdf-scheme, aes256_wrap"),
    ],
    ids=["sha1-default", "sha256", "sha256-aes128", "cofactor", "p384", "p521", "key-id", "aes-gcm"],
)
def test_encrypted_by_openssl_for_an_ec_key_decrypts_here(
    pki: Pki,
    make_account: MakeAccount,
    openssl: OpenSsl,
    tmp_path: Path,
    kind: str,
    options: list[str],
    cipher: str,
    method: str,
) -> None:
    gina = pki.issue(f"gina-{kind}@example.test", kind=kind)
    (tmp_path / "inner.eml").write_bytes(message(to=gina.address))
    inner, recip = tmp_path / "inner.eml", gina.cert_pem
    done = openssl("cms", "-encrypt", cipher, "-in", inner, "-recip", recip, *options)
    assert done.returncode == 0, done.stderr
    result = _decrypt_here(make_account, gina, done.stdout)
    assert result.annotations["smime.decrypted"] == "yes", result.annotations
    assert method in result.annotations["smime.key_method"]
    bits = "".join(c for c in cipher if c.isdigit())
    assert result.annotations["smime.cipher"] == f"AES-{bits}-{'GCM' if 'gcm' in cipher else 'CBC'}"
    assert BODY in result.data


def test_encrypted_by_openssl_for_rsa_and_ec_decrypts_here_for_each(
    make_account: MakeAccount, bob: Identity, carol: Identity, openssl: OpenSsl, tmp_path: Path
) -> None:
    (tmp_path / "inner.eml").write_bytes(message(to=f"{bob.address}, {carol.address}"))
    done = openssl(
        "cms", "-encrypt", "-aes256", "-in", tmp_path / "inner.eml",
        "-recip", carol.cert_pem, "-keyopt", "ecdh_kdf_md:sha256", "-recip", bob.cert_pem,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for who, method in ((bob, "RSA key transport"), (carol, "ECDH")):
        result = _decrypt_here(make_account, who, done.stdout)
        assert result.annotations["smime.decrypted"] == "yes", (who.address, result.annotations)
        assert result.annotations["smime.key_method"].startswith(method)
        assert BODY in result.data


def test_mail_for_someone_else_names_the_account_certificate(
    pki: Pki, make_account: MakeAccount, bob: Identity, carol: Identity, openssl: OpenSsl, tmp_path: Path
) -> None:
    (tmp_path / "inner.eml").write_bytes(message())
    done = openssl("cms", "-encrypt", "-aes256", "-in", tmp_path / "inner.eml", "-recip", carol.cert_pem)
    assert done.returncode == 0, done.stderr
    hank = pki.issue("hank-ec@example.test", kind="ec")
    for who in (bob, hank):  # an RSA and an EC account, neither among the recipients
        result = _decrypt_here(make_account, who, done.stdout)
        assert result.annotations["smime.decrypted"] == "no"
        assert "not encrypted for this account's certificate" in result.annotations["smime.decrypt_error"]
        assert who.address in result.annotations["smime.decrypt_error"]
        assert result.data == done.stdout


def _rewritten(data: bytes, change: Callable[[Any], None]) -> bytes:
    """``data`` (an S/MIME message) with its CMS structure changed by ``change(kari)`` and re-encoded."""
    import base64

    from asn1crypto import cms

    found = find_enveloped(data)
    assert found is not None
    info = cms.ContentInfo.load(found[1])
    kari = next(r.chosen for r in info["content"]["recipient_infos"] if r.name == "kari")
    change(kari)
    body = base64.encodebytes(info.dump(force=True)).replace(b"\n", b"\r\n")
    head = b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
    return head + b"Content-Transfer-Encoding: base64\r\n\r\n" + body


def _set_scheme(oid: str) -> Callable[[Any], None]:
    def change(kari: Any) -> None:
        kari["key_encryption_algorithm"]["algorithm"] = oid

    return change


def _set_wrap(name: str) -> Callable[[Any], None]:
    def change(kari: Any) -> None:
        from asn1crypto import cms

        kari["key_encryption_algorithm"]["parameters"] = cms.KeyEncryptionAlgorithm({"algorithm": name})

    return change


def _flip_key_bit(kari: Any) -> None:
    entry = kari["recipient_encrypted_keys"][0]
    wrapped = bytearray(entry["encrypted_key"].native)
    wrapped[3] ^= 0x01
    entry["encrypted_key"] = bytes(wrapped)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_set_scheme("1.3.132.1.15.1"), "mqvSinglePass-sha256kdf-scheme (ECMQV)"),
        (_set_scheme("1.2.840.113549.1.9.16.3.19"), "dhSinglePass-stdDH-hkdf-sha256-scheme"),
        (_set_wrap("aes256_wrap_pad"), "aes256_wrap_pad"),
        (_flip_key_bit, "does not unwrap"),
    ],
    ids=["ecmqv", "hkdf", "wrap-with-padding", "flipped-bit"],
)
def test_key_agreement_that_cannot_be_opened_is_named_and_raw_kept(
    make_account: MakeAccount,
    carol: Identity,
    openssl: OpenSsl,
    tmp_path: Path,
    change: Callable[[Any], None],
    named: str,
) -> None:
    (tmp_path / "inner.eml").write_bytes(message(to=carol.address))
    done = openssl("cms", "-encrypt", "-aes256", "-in", tmp_path / "inner.eml", "-recip", carol.cert_pem)
    assert done.returncode == 0, done.stderr
    assert _decrypt_here(make_account, carol, done.stdout).annotations["smime.decrypted"] == "yes"
    broken = _rewritten(done.stdout, change)
    result = _decrypt_here(make_account, carol, broken)
    assert result.annotations["smime.decrypted"] == "no", result.annotations
    assert named in result.annotations["smime.decrypt_error"]
    assert result.data == broken
    assert BODY not in result.data
