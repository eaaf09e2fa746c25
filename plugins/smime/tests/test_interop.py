"""L1: mail signed or encrypted here opens with openssl, and openssl's mail opens here (RSA and EC)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mailconduit import Account
from mailconduit_smime import (
    DecryptTransform,
    EncryptTransform,
    SignTransform,
    VerifyTransform,
    transforms_for,
)

from .conftest import Identity, MakeAccount, Pki, lookup_for, message

OpenSsl = Callable[..., subprocess.CompletedProcess[bytes]]
MIMEKIT = Path("/work/shared/corpora/mimekit/smime/thunderbird-signed.txt")


def _of(account: Account, kind: type) -> object:
    return next(t for t in transforms_for(account) if isinstance(t, kind))


@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("opaque", [False, True], ids=["detached", "opaque"])
def test_signed_here_verifies_with_openssl(
    pki: Pki, make_account: MakeAccount, openssl: OpenSsl, tmp_path: Path, kind: str, opaque: bool
) -> None:
    signer = pki.issue(f"{kind}-signer@example.test", kind=kind)
    transform = _of(make_account(signer, opaque=opaque), SignTransform)
    assert isinstance(transform, SignTransform)
    signed = transform.apply(message()).data
    head = signed.split(b"\r\n\r\n", 1)[0]
    if opaque:
        assert b"application/pkcs7-mime; smime-type=signed-data" in head
    else:
        assert b"multipart/signed" in head and b'micalg="sha-256"' in head
    assert b"Subject: Invoice 42" in head
    (tmp_path / "m.eml").write_bytes(signed)
    done = openssl(
        "cms", "-verify", "-in", tmp_path / "m.eml", "-CAfile", pki.ca_pem, "-purpose", "smimesign"
    )
    assert done.returncode == 0, done.stderr
    assert b"the invoice is attached" in done.stdout
    printed = openssl("cms", "-cmsout", "-print", "-in", tmp_path / "m.eml").stdout
    assert b"sha256" in printed and signer.address.encode() in printed  # SHA-256, signer certificate included


def test_encrypted_here_decrypts_with_openssl(
    make_account: MakeAccount, alice: Identity, bob: Identity, openssl: OpenSsl, tmp_path: Path
) -> None:
    account = make_account(alice, encrypt=None)
    from mailconduit_smime import AccountKeys
    from mailconduit_smime._settings import SmimeSettings

    keys = AccountKeys("alice", account.section("smime", SmimeSettings))  # type: ignore[arg-type]
    encrypt = EncryptTransform(account, keys, lookup=lookup_for(bob), required=True)
    result = encrypt.apply(message())
    assert result.annotations["smime.encrypted"] == "yes"
    assert b"smime-type=enveloped-data" in result.data and b"the invoice" not in result.data
    (tmp_path / "m.eml").write_bytes(result.data)
    for who in (bob, alice):  # the recipient, and the sender's own copy
        done = openssl(
            "smime", "-decrypt", "-in", tmp_path / "m.eml", "-recip", who.cert_pem, "-inkey", who.key_pem
        )
        assert done.returncode == 0, done.stderr
        assert b"the invoice is attached" in done.stdout
    printed = openssl("cms", "-cmsout", "-print", "-in", tmp_path / "m.eml").stdout
    assert b"aes-256-cbc" in printed


@pytest.mark.parametrize("kind", ["rsa", "ec"])
@pytest.mark.parametrize("detach", [True, False], ids=["detached", "opaque"])
def test_signed_by_openssl_verifies_here(
    pki: Pki, make_account: MakeAccount, openssl: OpenSsl, tmp_path: Path, kind: str, detach: bool
) -> None:
    signer = pki.issue(f"ossl-{kind}@example.test", kind=kind)
    inner = tmp_path / "inner.eml"
    inner.write_bytes(b"Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned by openssl.\r\n")
    args = [
        "smime",
        "-sign",
        "-in",
        inner,
        "-signer",
        signer.cert_pem,
        "-inkey",
        signer.key_pem,
        "-md",
        "sha256",
    ]
    args += ["-binary", "-from", signer.address, "-to", "alice@example.test", "-subject", "hi"]
    if not detach:
        args.append("-nodetach")
    done = openssl(*args)
    assert done.returncode == 0, done.stderr
    verify = _of(make_account(None), VerifyTransform)
    assert isinstance(verify, VerifyTransform)
    result = verify.apply(done.stdout)
    notes = result.annotations
    assert notes["smime.signature"] == "valid", notes
    assert notes["smime.chain"] == "trusted"
    assert notes["smime.signer"] == signer.address
    assert notes["smime.signer_matches_from"] == "yes"
    assert b"Signed by openssl." in result.data


@pytest.mark.parametrize("cipher", ["-aes256", "-aes128", "-aes-256-gcm", "-aes-128-gcm"])
def test_encrypted_by_openssl_decrypts_here(
    make_account: MakeAccount, alice: Identity, openssl: OpenSsl, tmp_path: Path, cipher: str
) -> None:
    (tmp_path / "inner.eml").write_bytes(message(to="alice@example.test"))
    if "gcm" in cipher:  # AuthEnvelopedData: only the cms command writes it
        done = openssl("cms", "-encrypt", cipher, "-in", tmp_path / "inner.eml", "-recip", alice.cert_pem)
    else:
        done = openssl("smime", "-encrypt", cipher, "-in", tmp_path / "inner.eml", alice.cert_pem)
    assert done.returncode == 0, done.stderr
    decrypt = _of(make_account(alice), DecryptTransform)
    assert isinstance(decrypt, DecryptTransform)
    result = decrypt.apply(done.stdout)
    assert result.annotations["smime.decrypted"] == "yes", result.annotations
    assert b"the invoice is attached" in result.data
    bits = "256" if "256" in cipher else "128"
    assert result.annotations["smime.cipher"] == f"AES-{bits}-{'GCM' if 'gcm' in cipher else 'CBC'}"


def test_aes_gcm_from_openssl_with_one_flipped_bit_fails_authentication(
    make_account: MakeAccount, alice: Identity, openssl: OpenSsl, tmp_path: Path
) -> None:
    import base64

    from mailconduit_smime._entity import split

    (tmp_path / "inner.eml").write_bytes(message(to="alice@example.test"))
    done = openssl("cms", "-encrypt", "-aes-256-gcm", "-in", tmp_path / "inner.eml", "-recip", alice.cert_pem)
    assert done.returncode == 0, done.stderr
    outer, entity = split(done.stdout)
    head, body = entity.split(b"\r\n\r\n", 1)
    der = bytearray(base64.b64decode(body))
    der[-40] ^= 0x01  # inside the encrypted content, just before the tag
    damaged = outer + head + b"\r\n\r\n" + base64.encodebytes(bytes(der)).replace(b"\n", b"\r\n")
    decrypt = _of(make_account(alice), DecryptTransform)
    assert isinstance(decrypt, DecryptTransform)
    result = decrypt.apply(damaged)
    assert result.annotations["smime.decrypted"] == "no", result.annotations
    assert "AES-256-GCM authentication failed" in result.annotations["smime.decrypt_error"]
    assert result.data == damaged and b"the invoice" not in result.data


def test_sign_then_encrypt_round_trip_here_and_with_openssl(
    make_account: MakeAccount, alice: Identity, bob: Identity, openssl: OpenSsl, tmp_path: Path, pki: Pki
) -> None:
    from mailconduit_smime import AccountKeys, EncryptSettings
    from mailconduit_smime._settings import SmimeSettings

    sender = make_account(alice, encrypt=EncryptSettings())
    keys = AccountKeys("alice", sender.section("smime", SmimeSettings))  # type: ignore[arg-type]
    signed = SignTransform(keys).apply(message()).data
    sealed = EncryptTransform(sender, keys, lookup=lookup_for(bob), required=True).apply(signed).data
    (tmp_path / "m.eml").write_bytes(sealed)
    opened = openssl(
        "cms", "-decrypt", "-in", tmp_path / "m.eml", "-recip", bob.cert_pem, "-inkey", bob.key_pem
    )
    assert opened.returncode == 0, opened.stderr
    (tmp_path / "inner.eml").write_bytes(opened.stdout)
    verified = openssl("cms", "-verify", "-in", tmp_path / "inner.eml", "-CAfile", pki.ca_pem)
    assert verified.returncode == 0, verified.stderr
    # and back here, as bob
    receiver = make_account(bob)
    data, notes = sealed, {}
    for transform in sorted(
        (t for t in transforms_for(receiver) if t.direction == "incoming"), key=lambda t: t.stage
    ):
        result = transform.apply(data)
        data, notes = result.data, {**notes, **result.annotations}
    assert notes["smime.decrypted"] == "yes" and notes["smime.signature"] == "valid"
    assert notes["smime.signer"] == alice.address and notes["smime.chain"] == "trusted"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["smime", "-encrypt", "-des3", "-in", "IN", "CERT"], "des"),
        (
            [
                "cms",
                "-encrypt",
                "-aes-256-cbc",
                "-in",
                "IN",
                "-recip",
                "CERT",
                "-keyopt",
                "rsa_padding_mode:oaep",
            ],
            "oaep",
        ),
        (["cms", "-encrypt", "-aes-256-ofb", "-in", "IN", "-recip", "CERT"], "aes256_ofb"),
    ],
    ids=["3des", "rsa-oaep", "aes-ofb"],
)
def test_algorithms_that_cannot_be_opened_are_named(
    make_account: MakeAccount, alice: Identity, openssl: OpenSsl, tmp_path: Path, args: list[str], named: str
) -> None:
    (tmp_path / "inner.eml").write_bytes(message(to="alice@example.test"))
    files = {"IN": tmp_path / "inner.eml", "CERT": alice.cert_pem}
    done = openssl(*(files.get(a, a) for a in args))
    assert done.returncode == 0 and done.stdout, done.stderr
    decrypt = _of(make_account(alice), DecryptTransform)
    assert isinstance(decrypt, DecryptTransform)
    result = decrypt.apply(done.stdout)
    assert result.annotations["smime.decrypted"] == "no"
    assert named.lower() in result.annotations["smime.decrypt_error"].lower()
    assert result.data == done.stdout  # raw kept


def test_legacy_pkcs12_loads(alice: Identity, openssl: OpenSsl, tmp_path: Path) -> None:
    from mailconduit import Secret
    from mailconduit_smime._certs import load_pkcs12

    for extra in (["-legacy"], ["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"]):
        out = tmp_path / f"legacy{len(extra)}.p12"
        done = openssl(
            "pkcs12", "-export", *extra, "-in", alice.cert_pem, "-inkey", alice.key_pem, "-out", out,
            "-passout", "pass:legacy-test",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        _key, cert, _ = load_pkcs12(out, Secret("legacy-test"))
        assert cert == alice.cert


def test_thunderbird_signed_mail_is_intact_but_untrusted(make_account: MakeAccount) -> None:
    if not MIMEKIT.exists():
        pytest.skip(f"{MIMEKIT} not present")
    verify = _of(make_account(None), VerifyTransform)
    assert isinstance(verify, VerifyTransform)
    raw = MIMEKIT.read_bytes()
    result = verify.apply(raw)
    notes = result.annotations
    assert notes["smime.signature"] == "valid", notes
    assert notes["smime.chain"] == "untrusted"
    assert notes["smime.signer"] == "fejj@gnome.org"
    assert result.data == raw
