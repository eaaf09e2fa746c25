"""CMS EnvelopedData (RFC 5652) for mixed recipients: sealing content for RSA and EC keys, and opening it.

cryptography's PKCS#7 API encrypts only to RSA and cannot even parse an envelope that also holds a
key agreement entry, so this module builds and reads the structure with asn1crypto and does the
cryptography with cryptography's primitives: one random AES-256 content key, AES-256-CBC content,
RSA PKCS#1 v1.5 key transport (``KeyTransRecipientInfo``) for RSA recipients and ephemeral-static
ECDH (``KeyAgreeRecipientInfo``, see ``_kari``) for EC recipients.

Opening accepts AES-128/192/256-CBC content, RSA PKCS#1 v1.5 key transport and the ECDH schemes of
``_kari``; everything else (3DES, RC2, RSA-OAEP, AES-GCM AuthEnvelopedData, ECMQV) is refused with
an ``SmimeError`` that names the algorithm.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from attrs import define

from mailconduit_smime._errors import SmimeError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["CIPHERS", "Opened", "open_envelope", "seal"]

CIPHERS = {"aes128_cbc": "AES-128-CBC", "aes192_cbc": "AES-192-CBC", "aes256_cbc": "AES-256-CBC"}
"""Content ciphers this module opens: asn1crypto name -> display name."""

_KEY_SIZES = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
_RSA_TRANSPORT = {"rsaes_pkcs1v15", "rsa"}


@define(frozen=True)
class Opened:
    """Decrypted CMS content.

    Attributes:
        content: the decrypted bytes (the MIME entity, for S/MIME).
        cipher: the content cipher (``AES-256-CBC`` ...).
        key_method: how the content key reached this account (``RSA key transport`` or the
            ECDH scheme and wrap, e.g. ``ECDH dhSinglePass-stdDH-sha256kdf-scheme, aes256_wrap``).
    """

    content: bytes
    cipher: str
    key_method: str


def _issuer_and_serial(cert: x509.Certificate) -> Any:
    from asn1crypto import cms
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding

    parsed = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    return cms.IssuerAndSerialNumber({"issuer": parsed.issuer, "serial_number": parsed.serial_number})


def _recipient_info(cert: x509.Certificate, cek: bytes) -> Any:
    from asn1crypto import cms
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    from mailconduit_smime._kari import kari_for

    public = cert.public_key()
    ias = _issuer_and_serial(cert)
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


def _load(der: bytes) -> Any:
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
    return info["content"]


def _same_issuer_serial(ias: Any, mine: Any) -> bool:
    same_serial = ias["serial_number"].native == mine["serial_number"].native
    return bool(same_serial and ias["issuer"] == mine["issuer"])


def _ski(cert: x509.Certificate) -> bytes | None:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _content_key(envelope: Any, key: PrivateKeyTypes, cert: x509.Certificate) -> tuple[bytes, str]:
    """Find this certificate's entry among the recipients and recover the content key from it."""
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    from mailconduit_smime._kari import unwrap_kari

    mine, ski = _issuer_and_serial(cert), _ski(cert)
    for recipient in envelope["recipient_infos"]:
        if recipient.name == "ktri":
            ktri = recipient.chosen
            rid = ktri["rid"]
            ours = (
                _same_issuer_serial(rid.chosen, mine)
                if rid.name == "issuer_and_serial_number"
                else ski is not None and rid.chosen.native == ski
            )
            if not ours:
                continue
            transport = ktri["key_encryption_algorithm"]["algorithm"].native
            if transport not in _RSA_TRANSPORT:
                raise SmimeError(
                    f"the message's key is wrapped with {transport!r} (e.g. RSA-OAEP), which this plugin "
                    "cannot decrypt; only RSA PKCS#1 v1.5 key transport is supported"
                )
            if not isinstance(key, rsa.RSAPrivateKey):
                raise SmimeError(
                    f"the message uses RSA key transport, but this account's key is {_kind(key)}"
                )
            try:
                return key.decrypt(ktri["encrypted_key"].native, padding.PKCS1v15()), "RSA key transport"
            except ValueError:
                raise SmimeError("the content key does not decrypt with this account's RSA key") from None
        if recipient.name == "kari":
            kari = recipient.chosen
            for entry in kari["recipient_encrypted_keys"]:
                rid = entry["rid"]
                ours = (
                    _same_issuer_serial(rid.chosen, mine)
                    if rid.name == "issuer_and_serial_number"
                    else ski is not None and rid.chosen["subject_key_identifier"].native == ski
                )
                if not ours:
                    continue
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise SmimeError(
                        f"the message uses EC key agreement, but this account's key is {_kind(key)}"
                    )
                cek = unwrap_kari(kari, entry["encrypted_key"].native, key)
                return cek, _method(kari)
    kinds = ", ".join(sorted({r.name for r in envelope["recipient_infos"]}))
    raise SmimeError(
        f"the message is not encrypted for this account's certificate {cert.subject.rfc4514_string()!r} "
        f"(its recipient entries: {kinds or 'none'})"
    )


def _kind(key: object) -> str:
    return f"a {type(key).__name__.removeprefix('_')}"


def _method(kari: Any) -> str:
    from asn1crypto import cms

    from mailconduit_smime._kari import scheme_name

    algorithm = kari["key_encryption_algorithm"]
    wrap = algorithm["parameters"].parse(cms.KeyEncryptionAlgorithm)["algorithm"].native
    return f"ECDH {scheme_name(algorithm['algorithm'].dotted)}, {wrap}"


def open_envelope(der: bytes, key: PrivateKeyTypes, cert: x509.Certificate) -> Opened:
    """Decrypt the EnvelopedData ``der`` with the account's ``key`` and ``cert``.

    Raises:
        SmimeError: not enveloped data, an algorithm that cannot be opened (named), not for this
            certificate, or the content does not decrypt (damaged, or a wrong key).
    """
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    envelope = _load(der)
    content_info = envelope["encrypted_content_info"]
    algorithm = content_info["content_encryption_algorithm"]
    name = algorithm["algorithm"].native
    if name not in CIPHERS:
        raise SmimeError(
            f"the message is encrypted with {name!r} (e.g. 3DES or RC2), which this plugin cannot "
            "decrypt; ask the sender to use AES"
        )
    cek, method = _content_key(envelope, key, cert)
    encrypted = content_info["encrypted_content"].native
    if encrypted is None:
        raise SmimeError("the enveloped data carries no content (detached); there is nothing to decrypt")
    iv = algorithm["parameters"].native
    if len(cek) != _KEY_SIZES[name] or not isinstance(iv, bytes) or len(iv) != 16:
        raise SmimeError(
            f"decryption failed ({CIPHERS[name]} key or IV of the wrong size); the message may be damaged"
        )
    decryptor = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
    try:
        padded = decryptor.update(encrypted) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        content = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise SmimeError(f"decryption failed ({CIPHERS[name]} padding); the message may be damaged") from None
    return Opened(content, CIPHERS[name], method)
