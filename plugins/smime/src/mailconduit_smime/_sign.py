"""Signing a message: detached ``multipart/signed`` (default) or opaque signed-data, SHA-256.

The signer's certificate and its chain from the PKCS#12 file go into the signature. The exact CRLF
bytes of the entity are signed and embedded (cryptography's ``Binary`` option), so what arrives
verifies byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailconduit_smime._entity import join, pkcs7_mime, split

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["sign_message"]


def sign_message(
    data: bytes,
    key: PrivateKeyTypes,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    opaque: bool = False,
) -> bytes:
    """Return ``data`` signed by ``key``/``cert``: outer headers kept, the MIME entity signed.

    Args:
        data: a whole RFC 5322 message (LF or CRLF line ends).
        key: the signer's RSA or EC private key.
        cert: the signer's certificate (included in the signature, with ``chain``).
        chain: intermediate certificates to include.
        opaque: produce ``application/pkcs7-mime; smime-type=signed-data`` instead of
            ``multipart/signed``.
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError(f"cannot sign with a {type(key).__name__}: use an RSA or EC key")
    outer, entity = split(data)
    builder = pkcs7.PKCS7SignatureBuilder().set_data(entity).add_signer(cert, key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(extra)
    if opaque:
        der = builder.sign(Encoding.DER, [pkcs7.PKCS7Options.Binary])
        return join(outer, pkcs7_mime(der, "signed-data"))
    signed = builder.sign(Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    return join(outer, signed)
