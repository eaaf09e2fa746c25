"""Sealing content as CMS EnvelopedData (RFC 5652) for mixed RSA and EC recipients.

cryptography's PKCS#7 envelope builder encrypts only to RSA, so the structure is written with
asn1crypto over cryptography's primitives: one random AES-256 content key, AES-256-CBC content,
RSA PKCS#1 v1.5 key transport (``KeyTransRecipientInfo``) for RSA recipients and ephemeral-static
ECDH (``KeyAgreeRecipientInfo``, see ``_kari``) for EC recipients. ``_envelope`` opens it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mailconduit_smime._envelope import issuer_and_serial

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["seal"]


def _recipient_info(cert: x509.Certificate, cek: bytes) -> Any:
    from asn1crypto import cms
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    from mailconduit_smime._kari import kari_for

    public = cert.public_key()
    ias = issuer_and_serial(cert)
    if isinstance(public, rsa.RSAPublicKey):
        ktri = cms.KeyTransRecipientInfo(
            {
                "version": "v0",
                "rid": cms.RecipientIdentifier(name="issuer_and_serial_number", value=ias),
                "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
                "encrypted_key": public.encrypt(cek, padding.PKCS1v15()),
            }
        )
        return cms.RecipientInfo(name="ktri", value=ktri)
    if isinstance(public, ec.EllipticCurvePublicKey):
        rid = cms.KeyAgreementRecipientIdentifier(name="issuer_and_serial_number", value=ias)
        return cms.RecipientInfo(name="kari", value=kari_for(public, rid, cek))
    kind = type(public).__name__.removeprefix("_")
    raise TypeError(
        f"cannot encrypt to certificate {cert.subject.rfc4514_string()!r}: its key is {kind}; "
        "only RSA (key transport) and EC (key agreement) keys are supported"
    )


def seal(content: bytes, recipients: Sequence[x509.Certificate]) -> bytes:
    """DER ``ContentInfo`` of EnvelopedData: ``content`` under AES-256-CBC, its key for every recipient.

    Raises:
        ValueError: no recipients were given.
        TypeError: a certificate's key is neither RSA nor EC (the message names it).
    """
    from asn1crypto import cms
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not recipients:
        raise ValueError("no recipient certificates to encrypt to")
    cek, iv = os.urandom(32), os.urandom(16)
    infos = [_recipient_info(cert, cek) for cert in recipients]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(bytes(content)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padded) + encryptor.finalize()
    enveloped = cms.EnvelopedData(
        {
            # RFC 5652 6.1: 0 when every entry is key transport by issuer and serial, else 2
            "version": "v0" if all(info.name == "ktri" for info in infos) else "v2",
            "recipient_infos": infos,
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": {"algorithm": "aes256_cbc", "parameters": iv},
                "encrypted_content": encrypted,
            },
        }
    )
    return bytes(cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump())
