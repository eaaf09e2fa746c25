"""L2: one flipped bit in the body, the signature or the certificate fails verification; raw bytes kept."""

from __future__ import annotations

import base64
import re

import pytest

from mailconduit_smime import VerifyTransform, transforms_for

from .conftest import Identity, MakeAccount, message


def _flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def _signature_span(signed: bytes) -> tuple[int, int]:
    match = re.search(
        rb"\r\nContent-Type: application/(x-)?pkcs7-signature[^\r]*\r\n"
        rb"(?:[^\r]+\r\n)*\r\n([A-Za-z0-9+/=\r\n]+)",
        signed,
    )
    assert match
    return match.start(2), match.end(2)


def _resign_part(signed: bytes, mutate) -> bytes:  # type: ignore[no-untyped-def]
    start, end = _signature_span(signed)
    der = base64.b64decode(signed[start:end])
    return signed[:start] + base64.encodebytes(mutate(der)).replace(b"\n", b"\r\n") + signed[end:]


@pytest.fixture
def verify(make_account: MakeAccount) -> VerifyTransform:
    found = next(t for t in transforms_for(make_account(None)) if isinstance(t, VerifyTransform))
    assert isinstance(found, VerifyTransform)
    return found


@pytest.fixture
def signed(alice: Identity) -> bytes:
    from mailconduit_smime._sign import sign_message

    return sign_message(message(), alice.key, alice.cert)


def test_untouched_is_valid(verify: VerifyTransform, signed: bytes) -> None:
    assert verify.apply(signed).annotations["smime.signature"] == "valid"


def test_every_body_bit_flip_fails(verify: VerifyTransform, signed: bytes) -> None:
    body_at = signed.index(b"the invoice is attached")
    for offset in range(len(b"the invoice is attached")):
        for bit in (0, 3, 6):
            tampered = _flip(signed, body_at + offset, bit)
            result = verify.apply(tampered)
            assert result.annotations["smime.signature"] == "invalid", (offset, bit)
            assert result.annotations["smime.verified"] == "no"
            assert result.annotations["smime.signature_error"]
            assert result.data == tampered  # raw kept


def test_signature_and_certificate_bit_flips_fail(
    verify: VerifyTransform, signed: bytes, alice: Identity
) -> None:
    start, end = _signature_span(signed)
    der = base64.b64decode(signed[start:end])
    cert_at = der.index(alice.der)
    sig_value_at = len(der) - 20  # inside the signature value, the last element
    positions = [sig_value_at + i for i in range(0, 16, 3)]
    positions += [cert_at + i for i in range(200, len(alice.der) - 10, 37)]  # TBS, key, signature of the cert
    assert len(positions) > 10
    for index in positions:
        tampered = _resign_part(signed, lambda d, i=index: _flip(d, i))
        result = verify.apply(tampered)
        # a flip in the certificate breaks the signature (its key) or the CA's signature on it (chain)
        assert result.annotations["smime.verified"] == "no", (index, result.annotations)
        assert (
            result.annotations.get("smime.signature") == "invalid"
            or result.annotations["smime.chain"] == "untrusted"
        )
        assert result.data == tampered
