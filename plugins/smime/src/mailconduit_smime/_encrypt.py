"""Encrypting a message's MIME entity for its recipients: AES-256-CBC enveloped data, RSA key transport."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailconduit_smime._entity import join, pkcs7_mime, split

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["encrypt_message"]


def encrypt_message(data: bytes, recipients: Sequence[x509.Certificate]) -> bytes:
    """Return ``data`` with its MIME entity enveloped for ``recipients`` (outer headers kept, CRLF).

    Raises:
        ValueError: no recipients were given.
        TypeError: a recipient certificate has a key cryptography cannot encrypt to (not RSA).
    """
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    if not recipients:
        raise ValueError("no recipient certificates to encrypt to")
    outer, entity = split(data)
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(entity)
    builder = builder.set_content_encryption_algorithm(algorithms.AES256)
    for cert in recipients:
        builder = builder.add_recipient(cert)
    der = builder.encrypt(Encoding.DER, [pkcs7.PKCS7Options.Binary])
    return join(outer, pkcs7_mime(der, "enveloped-data"))
