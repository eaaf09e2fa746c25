"""CMS key agreement for EC recipients (RFC 5753): wrapping and unwrapping a content key with ECDH.

Ephemeral-static ECDH, ``dhSinglePass-stdDH-shaNkdf-scheme``: the sender makes a one-off key pair
on the recipient's curve, derives a key-encryption key from the shared secret with the ANSI X9.63
KDF over the DER of ``ECC-CMS-SharedInfo`` (the wrap algorithm, the optional ukm, and the KEK length
in bits), and wraps the content key with AES key wrap (RFC 3394). One ``KeyAgreeRecipientInfo``
per recipient, as openssl writes them.

Sending uses SHA-256 for P-256 (SHA-384 for P-384, SHA-512 for P-521, as RFC 5008 pairs them) and
``id-aes256-wrap``. Opening accepts the standard and cofactor schemes with SHA-1 (openssl's
default) to SHA-512 and AES-128/192/256 wrap; anything else (ECMQV, static originator keys, a
different curve) is an ``SmimeError`` naming it.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from mailconduit_smime._errors import SmimeError

if TYPE_CHECKING:
    from asn1crypto import cms
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["SCHEMES", "kari_for", "scheme_name", "unwrap_kari"]

SCHEMES: dict[str, tuple[str, str]] = {
    "1.3.133.16.840.63.0.2": ("dhSinglePass-stdDH-sha1kdf-scheme", "sha1"),
    "1.3.132.1.11.0": ("dhSinglePass-stdDH-sha224kdf-scheme", "sha224"),
    "1.3.132.1.11.1": ("dhSinglePass-stdDH-sha256kdf-scheme", "sha256"),
    "1.3.132.1.11.2": ("dhSinglePass-stdDH-sha384kdf-scheme", "sha384"),
    "1.3.132.1.11.3": ("dhSinglePass-stdDH-sha512kdf-scheme", "sha512"),
    "1.3.133.16.840.63.0.3": ("dhSinglePass-cofactorDH-sha1kdf-scheme", "sha1"),
    "1.3.132.1.14.0": ("dhSinglePass-cofactorDH-sha224kdf-scheme", "sha224"),
    "1.3.132.1.14.1": ("dhSinglePass-cofactorDH-sha256kdf-scheme", "sha256"),
    "1.3.132.1.14.2": ("dhSinglePass-cofactorDH-sha384kdf-scheme", "sha384"),
    "1.3.132.1.14.3": ("dhSinglePass-cofactorDH-sha512kdf-scheme", "sha512"),
}
"""Key agreement schemes this module opens: OID -> (name, KDF hash)."""

_NAMED = {
    "1.3.133.16.840.63.0.16": "mqvSinglePass-sha1kdf-scheme (ECMQV)",
    "1.3.132.1.15.0": "mqvSinglePass-sha224kdf-scheme (ECMQV)",
    "1.3.132.1.15.1": "mqvSinglePass-sha256kdf-scheme (ECMQV)",
    "1.3.132.1.15.2": "mqvSinglePass-sha384kdf-scheme (ECMQV)",
    "1.3.132.1.15.3": "mqvSinglePass-sha512kdf-scheme (ECMQV)",
    "1.2.840.113549.1.9.16.3.19": "dhSinglePass-stdDH-hkdf-sha256-scheme",
    "1.2.840.113549.1.9.16.3.20": "dhSinglePass-stdDH-hkdf-sha384-scheme",
    "1.2.840.113549.1.9.16.3.21": "dhSinglePass-stdDH-hkdf-sha512-scheme",
}
_WRAPS = {"aes128_wrap": 16, "aes192_wrap": 24, "aes256_wrap": 32}
_SEND_SCHEME = {256: "1.3.132.1.11.1", 384: "1.3.132.1.11.2", 521: "1.3.132.1.11.3"}
# cofactor DH equals standard DH on curves whose cofactor is 1 (every prime curve cryptography has)
_COFACTOR_ONE = ("secp", "brainpool")


def scheme_name(oid: str) -> str:
    """A readable name of a key agreement algorithm OID (the OID itself when unknown)."""
    if oid in SCHEMES:
        return SCHEMES[oid][0]
    return _NAMED.get(oid, oid)


def _hash(name: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    algorithms: dict[str, Any] = {
        "sha1": hashes.SHA1(),  # noqa: S303  # openssl's default KDF hash; only ever read, never sent
        "sha224": hashes.SHA224(),
        "sha256": hashes.SHA256(),
        "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
    }
    return algorithms[name]


def _kek(shared: bytes, wrap: cms.KeyEncryptionAlgorithm, ukm: bytes | None, hash_name: str) -> bytes:
    """The key-encryption key: X9.63 KDF of the shared secret over ECC-CMS-SharedInfo (RFC 5753 7.2)."""
    from asn1crypto import core
    from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

    length = _WRAPS[wrap["algorithm"].native]
    fields = [wrap.dump()]
    if ukm is not None:
        fields.append(core.OctetString(ukm).retag("explicit", 0).dump())
    fields.append(core.OctetString(struct.pack(">I", length * 8)).retag("explicit", 2).dump())
    body = b"".join(fields)
    shared_info = b"\x30" + _der_length(len(body)) + body
    return X963KDF(algorithm=_hash(hash_name), length=length, sharedinfo=shared_info).derive(shared)


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def kari_for(
    public_key: ec.EllipticCurvePublicKey, rid: cms.KeyAgreementRecipientIdentifier, cek: bytes
) -> Any:
    """A ``KeyAgreeRecipientInfo`` that gives ``cek`` to the holder of ``public_key``.

    Args:
        public_key: the recipient's EC key (from its certificate).
        rid: how the recipient finds its entry (issuer and serial number of its certificate).
        cek: the content-encryption key (32 bytes for AES-256).
    """
    from asn1crypto import cms, keys
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    scheme = _SEND_SCHEME.get(public_key.curve.key_size, "1.3.132.1.11.1")
    ephemeral = ec.generate_private_key(public_key.curve)
    shared = ephemeral.exchange(ec.ECDH(), public_key)
    wrap = cms.KeyEncryptionAlgorithm({"algorithm": "aes256_wrap"})
    kek = _kek(shared, wrap, None, SCHEMES[scheme][1])
    point = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    originator = keys.PublicKeyInfo(
        {"algorithm": keys.PublicKeyAlgorithm({"algorithm": "ec"}), "public_key": point}
    )
    return cms.KeyAgreeRecipientInfo(
        {
            "version": "v3",
            "originator": cms.OriginatorIdentifierOrKey(name="originator_key", value=originator),
            "key_encryption_algorithm": cms.KeyEncryptionAlgorithm({"algorithm": scheme, "parameters": wrap}),
            "recipient_encrypted_keys": [{"rid": rid, "encrypted_key": aes_key_wrap(kek, cek)}],
        }
    )


def unwrap_kari(
    kari: cms.KeyAgreeRecipientInfo, encrypted_key: bytes, key: ec.EllipticCurvePrivateKey
) -> bytes:
    """The content-encryption key of one ``RecipientEncryptedKey`` of ``kari``, opened with ``key``.

    Raises:
        SmimeError: the scheme, wrap algorithm or originator is not supported (named), or the key
            does not open it (damaged message, or not ours).
    """
    from asn1crypto import cms
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

    algorithm = kari["key_encryption_algorithm"]
    oid = algorithm["algorithm"].dotted
    if oid not in SCHEMES:
        raise SmimeError(
            f"the message's key is agreed with {scheme_name(oid)!r}, which this plugin cannot open; "
            "supported: ephemeral-static ECDH with the X9.63 KDF (dhSinglePass-stdDH-sha*kdf-scheme)"
        )
    name, hash_name = SCHEMES[oid]
    if "cofactor" in name and not key.curve.name.startswith(_COFACTOR_ONE):
        raise SmimeError(f"{name} on curve {key.curve.name} is not supported (cofactor other than 1)")
    try:
        wrap = algorithm["parameters"].parse(cms.KeyEncryptionAlgorithm)
        wrap_name = wrap["algorithm"].native
    except (ValueError, TypeError):
        raise SmimeError(
            f"{name} without a readable key wrap algorithm; the message may be damaged"
        ) from None
    if wrap_name not in _WRAPS:
        raise SmimeError(
            f"the message's key is wrapped with {wrap_name!r}, which this plugin cannot open; "
            "supported: id-aes128-wrap, id-aes192-wrap, id-aes256-wrap"
        )
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise SmimeError(
            f"the message's key agreement names a static originator ({originator.name}), which this "
            "plugin cannot open; only ephemeral originator keys (RFC 5753) are supported"
        )
    info = originator.chosen
    originator_kind = info["algorithm"]["algorithm"].native
    if originator_kind != "ec":
        raise SmimeError(f"the originator key is {originator_kind!r}, not an EC key; it cannot be opened")
    parameters = info["algorithm"]["parameters"]
    curve = parameters.chosen.native if getattr(parameters, "name", None) == "named" else key.curve.name
    if curve != key.curve.name:
        raise SmimeError(
            f"the originator key is on curve {curve!r}, this account's key on "
            f"{key.curve.name!r}; the message cannot be opened with it"
        )
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, bytes(info["public_key"].native))
        shared = key.exchange(ec.ECDH(), peer)
    except ValueError:
        raise SmimeError(
            "the originator key is not a point on this account's curve; the message may be damaged"
        ) from None
    ukm = kari["ukm"].native
    kek = _kek(shared, wrap, ukm, hash_name)
    try:
        return aes_key_unwrap(kek, encrypted_key)
    except InvalidUnwrap:
        raise SmimeError(
            f"the content key does not unwrap ({name}); the message is damaged or not for this key"
        ) from None
