"""Opening enveloped (encrypted) S/MIME mail with the account's key.

cryptography decrypts AES-CBC enveloped data with RSA PKCS#1 v1.5 key transport. Anything else
(3DES or RC2 content, RSA-OAEP key transport, EC key agreement, AES-GCM AuthEnvelopedData) is
recognised with asn1crypto first and refused with an error that names the algorithm.

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
_CIPHERS = {"aes128_cbc": "AES-128-CBC", "aes192_cbc": "AES-192-CBC", "aes256_cbc": "AES-256-CBC"}


@define(frozen=True)
class Decrypted:
    """A decrypted message.

    Attributes:
        data: outer headers + the decrypted entity (CRLF).
        cipher: the content cipher (``AES-256-CBC`` ...).
        part: where the encrypted entity was (``""`` for the whole message, ``"2"`` for the second
            part of the top multipart, ``"2.1"`` ...).
        other_parts: how many unencrypted leaf parts surrounded it (left out of ``data``).
    """

    data: bytes
    cipher: str
    part: str = ""
    other_parts: int = 0


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


def _check_algorithms(der: bytes, cert: x509.Certificate) -> str:
    from asn1crypto import cms

    try:
        info = cms.ContentInfo.load(der)
        kind = info["content_type"].native
    except ValueError as exc:
        raise SmimeError(f"the encrypted part is not a CMS structure ({exc}); it cannot be opened") from None
    if kind == "authenticated_enveloped_data":
        raise SmimeError(
            "the message uses AuthEnvelopedData (AES-GCM, RFC 5083), which this plugin cannot decrypt; "
            "ask the sender to use AES-CBC (EnvelopedData)"
        )
    if kind != "enveloped_data":
        raise SmimeError(f"the encrypted part holds CMS {kind!r}, not enveloped data; it cannot be decrypted")
    envelope = info["content"]
    algorithm = envelope["encrypted_content_info"]["content_encryption_algorithm"]["algorithm"].native
    if algorithm not in _CIPHERS:
        raise SmimeError(
            f"the message is encrypted with {algorithm!r} (e.g. 3DES or RC2), which this plugin cannot "
            "decrypt; ask the sender to use AES"
        )
    matched = False
    for recipient in envelope["recipient_infos"]:
        if recipient.name != "ktri":
            continue
        ktri = recipient.chosen
        rid = ktri["rid"]
        if rid.name == "issuer_and_serial_number":
            ours = rid.chosen["serial_number"].native == cert.serial_number and (
                rid.chosen["issuer"].dump() == cert.issuer.public_bytes()
            )
        else:
            ours = rid.chosen.native == _ski(cert)
        if not ours:
            continue
        matched = True
        transport = ktri["key_encryption_algorithm"]["algorithm"].native
        if transport not in {"rsaes_pkcs1v15", "rsa"}:
            raise SmimeError(
                f"the message's key is wrapped with {transport!r} (e.g. RSA-OAEP), which this plugin "
                "cannot decrypt; only RSA PKCS#1 v1.5 key transport is supported"
            )
    if not matched:
        kinds = sorted({r.name for r in envelope["recipient_infos"]})
        if "kari" in kinds:
            raise SmimeError(
                "the message is encrypted by key agreement (EC keys), which this plugin cannot decrypt"
            )
        raise SmimeError(
            f"the message is not encrypted for this account's certificate {cert.subject.rfc4514_string()!r}"
        )
    return _CIPHERS[algorithm]


def _ski(cert: x509.Certificate) -> bytes | None:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def decrypt_message(data: bytes, key: PrivateKeyTypes, cert: x509.Certificate) -> Decrypted:
    """Decrypt the message's encrypted entity with ``key``/``cert``.

    Raises:
        SmimeError: nothing is encrypted, the algorithm is not supported (named), the message is
            for another certificate, or decryption failed.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs7

    found = find_enveloped(data)
    if found is None:
        raise SmimeError("the message has no encrypted (application/pkcs7-mime) part")
    path, der, others = found
    cipher = _check_algorithms(der, cert)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SmimeError(f"cannot decrypt with a {type(key).__name__}: only RSA keys are supported")
    try:
        entity = pkcs7.pkcs7_decrypt_der(der, cert, key, [])
    except ValueError as exc:
        raise SmimeError(f"decryption failed ({exc}); the message may be damaged") from None
    outer, _ = split(data)
    return Decrypted(join(outer, crlf(entity)), cipher, path, others)
