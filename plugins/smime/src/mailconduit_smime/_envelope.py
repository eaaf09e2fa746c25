"""Opening CMS EnvelopedData (RFC 5652) and AuthEnvelopedData (RFC 5083) with an account's RSA or EC key.

cryptography's PKCS#7 API decrypts only with RSA and cannot even parse an envelope that also holds
a key agreement entry, so this module reads the structure with asn1crypto and does the
cryptography with cryptography's primitives. It finds this account's entry among the recipients
(by issuer and serial number or subject key identifier), recovers the content key (RSA PKCS#1 v1.5
key transport, or ECDH key agreement through ``_kari``) and decrypts the content.

Accepted: AES-128/192/256-CBC EnvelopedData and AES-128/192/256-GCM AuthEnvelopedData (RFC 5084,
what ``openssl cms -encrypt -aes-256-gcm`` writes). Everything else (3DES, RC2, other AES modes,
RSA-OAEP, ECMQV) is refused with an ``SmimeError`` that names the algorithm. ``_seal`` writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrs import define

from mailconduit_smime._errors import SmimeError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["CIPHERS", "Opened", "issuer_and_serial", "open_envelope"]

CIPHERS = {"aes128_cbc": "AES-128-CBC", "aes192_cbc": "AES-192-CBC", "aes256_cbc": "AES-256-CBC"}
"""Content ciphers this module opens: asn1crypto name -> display name."""

_KEY_SIZES = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
_GCM = {
    "aes128_gcm": ("AES-128-GCM", 16),
    "aes192_gcm": ("AES-192-GCM", 24),
    "aes256_gcm": ("AES-256-GCM", 32),
}
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


def issuer_and_serial(cert: x509.Certificate) -> Any:
    """The asn1crypto ``IssuerAndSerialNumber`` of ``cert`` (its issuer exactly as encoded)."""
    from asn1crypto import cms
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding

    parsed = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    return cms.IssuerAndSerialNumber({"issuer": parsed.issuer, "serial_number": parsed.serial_number})


def _load(der: bytes) -> tuple[str, Any]:
    from asn1crypto import cms

    try:
        info = cms.ContentInfo.load(der)
        kind = info["content_type"].native
    except ValueError as exc:
        raise SmimeError(f"the encrypted part is not a CMS structure ({exc}); it cannot be opened") from None
    if kind not in ("enveloped_data", "authenticated_enveloped_data"):
        raise SmimeError(f"the encrypted part holds CMS {kind!r}, not enveloped data; it cannot be decrypted")
    return kind, info["content"]


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

    mine, ski = issuer_and_serial(cert), _ski(cert)
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

    kind, envelope = _load(der)
    if kind == "authenticated_enveloped_data":
        return _open_gcm(envelope, key, cert)
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


def _gcm_parameters(parameters: Any) -> tuple[bytes, int]:
    """``(nonce, ICV length)`` of RFC 5084 ``GCMParameters`` (the length defaults to 12)."""
    from asn1crypto import core

    class GcmParameters(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
        _fields = [("aes_nonce", core.OctetString), ("aes_icvlen", core.Integer, {"default": 12})]

    try:
        parsed = parameters.parse(GcmParameters)
        return bytes(parsed["aes_nonce"].native), int(parsed["aes_icvlen"].native)
    except (ValueError, TypeError, AttributeError):
        raise SmimeError("the AES-GCM parameters cannot be read; the message may be damaged") from None


def _open_gcm(envelope: Any, key: PrivateKeyTypes, cert: x509.Certificate) -> Opened:
    """Decrypt and authenticate AuthEnvelopedData (AES-GCM content, RFC 5083 and 5084)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    content_info = envelope["auth_encrypted_content_info"]
    algorithm = content_info["content_encryption_algorithm"]
    name = algorithm["algorithm"].native
    if name not in _GCM:
        raise SmimeError(
            f"the message uses AuthEnvelopedData with {name!r}, which this plugin cannot decrypt; "
            "supported: AES-128/192/256-GCM"
        )
    display, key_size = _GCM[name]
    cek, method = _content_key(envelope, key, cert)
    nonce, icv_length = _gcm_parameters(algorithm["parameters"])
    mac = envelope["mac"].native
    encrypted = content_info["encrypted_content"].native
    if encrypted is None:
        raise SmimeError("the enveloped data carries no content (detached); there is nothing to decrypt")
    if len(cek) != key_size or len(mac) != icv_length or not 12 <= icv_length <= 16:
        raise SmimeError(
            f"decryption failed ({display} key or tag of the wrong size); the message may be damaged"
        )
    attributes = envelope["auth_attrs"]
    # RFC 5083 2.1: authenticated attributes count with their SET OF tag, not the [1] of the field
    aad = attributes.untag().dump() if attributes.native is not None else b""
    try:
        decryptor = Cipher(algorithms.AES(cek), modes.GCM(nonce, mac, min_tag_length=len(mac))).decryptor()
        decryptor.authenticate_additional_data(aad)
        content = decryptor.update(encrypted) + decryptor.finalize()
    except InvalidTag:
        raise SmimeError(
            f"{display} authentication failed: the message was changed or damaged; nothing was decrypted"
        ) from None
    except ValueError as exc:
        raise SmimeError(f"decryption failed ({display}: {exc}); the message may be damaged") from None
    return Opened(content, display, method)
