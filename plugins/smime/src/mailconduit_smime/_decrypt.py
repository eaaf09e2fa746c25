"""Opening enveloped (encrypted) S/MIME mail with the account's key.

``_envelope`` decrypts AES-CBC EnvelopedData and AES-GCM AuthEnvelopedData with RSA PKCS#1 v1.5
key transport (RSA keys) or ECDH key agreement (EC keys), also when the message has entries of
both kinds. Anything else (3DES or RC2 content, RSA-OAEP key transport, ECMQV) is refused with an
error that names the algorithm.

EFAIL (RELIABILITY.md E6): when the encrypted entity sits inside a multipart next to other parts,
only the decrypted entity is returned, under the outer headers: its own document, never joined
with the unencrypted (possibly attacker-made) parts around it.
"""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from typing import TYPE_CHECKING

from attrs import define

from mailconduit_smime._entity import crlf, join, split
from mailconduit_smime._errors import SmimeError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["Decrypted", "decrypt_message", "find_enveloped", "is_enveloped"]

_PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")


@define(frozen=True)
class Decrypted:
    """A decrypted message.

    Attributes:
        data: outer headers + the decrypted entity (CRLF).
        cipher: the content cipher (``AES-256-CBC`` ...).
        part: where the encrypted entity was (``""`` for the whole message, ``"2"`` for the second
            part of the top multipart, ``"2.1"`` ...).
        other_parts: how many unencrypted leaf parts surrounded it (left out of ``data``).
        key_method: how the content key reached this account (``RSA key transport``, or the
            ECDH scheme and key wrap).
    """

    data: bytes
    cipher: str
    part: str = ""
    other_parts: int = 0
    key_method: str = ""


def is_enveloped(part: Message) -> bool:
    """True for an ``application/pkcs7-mime`` part that is not signed-data (enveloped or unlabelled)."""
    if part.get_content_type() not in _PKCS7_MIME:
        return False
    smime_type = (part.get_param("smime-type") or "").__str__().lower()
    return smime_type not in ("signed-data", "certs-only", "compressed-data")


def _walk(part: Message, path: str) -> list[tuple[str, Message]]:
    if not part.is_multipart():
        return [(path, part)]
    found: list[tuple[str, Message]] = []
    for index, child in enumerate(part.get_payload(), start=1):
        assert isinstance(child, Message)
        found.extend(_walk(child, f"{path}.{index}" if path else str(index)))
    return found


def find_enveloped(data: bytes) -> tuple[str, bytes, int] | None:
    """Locate the first encrypted entity: ``(part path, its DER, number of other leaf parts)``."""
    message = email.message_from_bytes(bytes(data), policy=email.policy.compat32)
    leaves = _walk(message, "")
    for path, part in leaves:
        if is_enveloped(part):
            der = part.get_payload(decode=True)
            if isinstance(der, bytes) and der:
                return path, der, len(leaves) - 1
    return None


def decrypt_message(data: bytes, key: PrivateKeyTypes, cert: x509.Certificate) -> Decrypted:
    """Decrypt the message's encrypted entity with ``key``/``cert``.

    Raises:
        SmimeError: nothing is encrypted, the algorithm is not supported (named), the message is
            for another certificate, or decryption failed.
    """
    from mailconduit_smime._envelope import open_envelope

    found = find_enveloped(data)
    if found is None:
        raise SmimeError("the message has no encrypted (application/pkcs7-mime) part")
    path, der, others = found
    opened = open_envelope(der, key, cert)
    outer, _ = split(data)
    return Decrypted(join(outer, crlf(opened.content)), opened.cipher, path, others, opened.key_method)
