"""Encrypting a message's MIME entity for its recipients: AES-256-CBC enveloped data, RSA and EC keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailconduit_smime._entity import join, pkcs7_mime, split

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["encrypt_message"]


def encrypt_message(data: bytes, recipients: Sequence[x509.Certificate]) -> bytes:
    """Return ``data`` with its MIME entity enveloped for ``recipients`` (outer headers kept, CRLF).

    RSA recipients get RSA PKCS#1 v1.5 key transport, EC recipients ephemeral-static ECDH key
    agreement (RFC 5753); both kinds may be mixed in one message (see ``_seal``).

    Raises:
        ValueError: no recipients were given.
        TypeError: a recipient certificate has a key that is neither RSA nor EC.
    """
    from mailconduit_smime._seal import seal

    outer, entity = split(data)
    return join(outer, pkcs7_mime(seal(entity, recipients), "enveloped-data"))
