"""Verifying S/MIME signatures: asn1crypto parses the CMS, cryptography checks the math and the chain.

cryptography has no CMS verification API. This follows the recipes' ``smime_verify.py`` (which agreed
with ``openssl cms -verify`` on detached, opaque, RSA, RSA-PSS, EC, tampered and foreign-CA cases),
and keeps two questions apart: is the signature intact (the content is what the signer signed), and
does the signer's certificate chain to the account's trust anchors. The signed bytes are cut from
the raw message, never re-serialised.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from collections.abc import Sequence
from email.message import Message
from typing import TYPE_CHECKING, Any

from attrs import define, field

from mailconduit_smime._errors import SmimeError

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["Verification", "find_signed", "verify_message"]

_SIG_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")
_MIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")


@define(frozen=True, kw_only=True)
class Verification:
    """What verifying one signature found.

    Attributes:
        intact: the signature matches the content (nothing was changed after signing).
        problem: why it does not (empty when intact).
        signer: the signer's certificate, when it was found.
        signer_addresses: addresses the signer's certificate names.
        trusted: the signer's certificate chains to a trust anchor (at the signing time, else now).
        chain_problem: why it does not.
        signing_time: the signing-time attribute, when present.
        content: the signed content (the entity; for opaque signatures taken from the CMS).
        opaque: True for application/pkcs7-mime signed-data.
    """

    intact: bool
    problem: str = ""
    signer: x509.Certificate | None = field(default=None, repr=False)
    signer_addresses: tuple[str, ...] = ()
    trusted: bool = False
    chain_problem: str = ""
    signing_time: dt.datetime | None = None
    content: bytes = field(default=b"", repr=False)
    opaque: bool = False


def _hash(name: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    table: dict[str, type[hashes.HashAlgorithm]] = {
        "sha1": hashes.SHA1,
        "sha224": hashes.SHA224,
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
    }
    if name not in table:
        raise SmimeError(f"the signature uses digest {name!r}, which this plugin does not support")
    return table[name]()


def find_signed(message: Message) -> str | None:
    """``"detached"``, ``"opaque"`` or None: how (and whether) the message's top entity is signed."""
    kind = message.get_content_type()
    if kind == "multipart/signed":
        return "detached"
    if kind in _MIME_TYPES and str(message.get_param("smime-type") or "").lower() == "signed-data":
        return "opaque"
    return None


def _split_detached(raw: bytes, message: Message) -> tuple[bytes, bytes]:
    boundary = (message.get_boundary() or "").encode("utf-8", "surrogateescape")
    if not boundary:
        raise SmimeError("multipart/signed without a boundary")
    canon = re.sub(rb"\r?\n", b"\r\n", raw)
    marker = b"--" + boundary + b"\r\n"
    start = canon.find(b"\r\n" + marker)
    start = canon.find(marker) if start < 0 else start + 2
    if start < 0:
        raise SmimeError("multipart/signed: first boundary not found")
    start += len(marker)
    end = canon.find(b"\r\n--" + boundary, start)
    parts = message.get_payload()
    signature = next(
        (p for p in parts if isinstance(p, Message) and p.get_content_type() in _SIG_TYPES), None
    )
    if signature is None or end < 0:
        raise SmimeError("malformed multipart/signed: no signature part")
    der = signature.get_payload(decode=True)
    if not isinstance(der, bytes):
        raise SmimeError("malformed multipart/signed: empty signature part")
    return canon[start:end], der


def verify_message(
    raw: bytes, trust_anchors: Sequence[x509.Certificate], *, now: dt.datetime | None = None
) -> Verification | None:
    """Verify the signature of the message's top entity; None when it is not signed.

    Never raises for a bad signature: every failure is reported in the result.
    """
    message = email.message_from_bytes(bytes(raw), policy=email.policy.compat32)
    kind = find_signed(message)
    if kind is None:
        return None
    try:
        if kind == "detached":
            content, der = _split_detached(bytes(raw), message)
            return _verify_cms(der, content, trust_anchors, now)
        payload = message.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise SmimeError("empty signed-data part")
        return _verify_cms(payload, None, trust_anchors, now)
    except SmimeError as exc:
        return Verification(intact=False, problem=str(exc), opaque=kind == "opaque")


def _verify_cms(
    der: bytes, content: bytes | None, anchors: Sequence[x509.Certificate], now: dt.datetime | None
) -> Verification:
    from asn1crypto import cms
    from cryptography import x509

    opaque = content is None
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise SmimeError(f"not signed-data: {info['content_type'].native}")
        signed = info["content"]
        if content is None:
            embedded = signed["encap_content_info"]["content"].native
            if not isinstance(embedded, bytes):
                raise SmimeError("opaque signature without content")
            content = embedded
        certs = [
            x509.load_der_x509_certificate(c.chosen.dump())
            for c in signed["certificates"] or []
            if c.name == "certificate"
        ]
        if len(signed["signer_infos"]) != 1:
            raise SmimeError(f"expected exactly one signer, found {len(signed['signer_infos'])}")
        info_ = signed["signer_infos"][0]
        signer = _find_signer(info_["sid"], certs)
        digest = _hash(info_["digest_algorithm"]["algorithm"].native)
        signing_time, to_check = _signed_bytes(info_, signed, content, digest)
    except SmimeError as exc:
        return Verification(intact=False, problem=str(exc), content=content or b"", opaque=opaque)
    except (ValueError, TypeError, KeyError) as exc:
        problem = f"the signature cannot be parsed ({type(exc).__name__}: {exc})"
        return Verification(intact=False, problem=problem, content=content or b"", opaque=opaque)
    addresses = _addresses(signer)
    try:
        _check_signature(signer, info_, to_check, digest)
    except SmimeError as exc:
        return Verification(
            intact=False,
            problem=str(exc),
            content=content,
            opaque=opaque,
            signer=signer,
            signer_addresses=addresses,
            signing_time=signing_time,
        )
    when = now or signing_time or dt.datetime.now(dt.UTC)
    chain_problem = _chain_problem(signer, certs, anchors, when)
    return Verification(
        intact=True,
        trusted=not chain_problem,
        chain_problem=chain_problem,
        content=content,
        opaque=opaque,
        signer=signer,
        signer_addresses=addresses,
        signing_time=signing_time,
    )


def _signed_bytes(si: Any, signed: Any, content: bytes, digest: Any) -> tuple[dt.datetime | None, bytes]:
    from cryptography.hazmat.primitives import hashes

    if not si["signed_attrs"]:
        return None, content
    h = hashes.Hash(digest)
    h.update(content)
    wanted = ("message_digest", "content_type", "signing_time")
    attrs = {
        a["type"].native: a["values"][0].native for a in si["signed_attrs"] if a["type"].native in wanted
    }
    if attrs.get("message_digest") != h.finalize():
        raise SmimeError("message digest mismatch: the content was changed after signing")
    if attrs.get("content_type") != signed["encap_content_info"]["content_type"].native:
        raise SmimeError("content-type attribute mismatch")
    when = attrs.get("signing_time")
    return (when if isinstance(when, dt.datetime) else None), si["signed_attrs"].untag().dump()


def _find_signer(sid: Any, certs: list[x509.Certificate]) -> x509.Certificate:
    if sid.name == "issuer_and_serial_number":
        isn = sid.chosen
        found = [
            c
            for c in certs
            if c.serial_number == isn["serial_number"].native
            and c.issuer.public_bytes() == isn["issuer"].dump()
        ]
    else:
        found = [c for c in certs if _ski(c) == sid.chosen.native]
    if not found:
        raise SmimeError("the signer's certificate is not included in the signature")
    return found[0]


def _check_signature(signer: x509.Certificate, si: Any, data: bytes, digest: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    public = signer.public_key()
    signature = si["signature"].native
    algorithm = si["signature_algorithm"]["algorithm"].native
    try:
        if isinstance(public, rsa.RSAPublicKey) and algorithm == "rsassa_pss":
            params = si["signature_algorithm"]["parameters"]
            mgf = _hash(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
            pss = padding.PSS(mgf=padding.MGF1(mgf), salt_length=params["salt_length"].native)
            public.verify(signature, data, pss, _hash(params["hash_algorithm"]["algorithm"].native))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), digest)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(digest))
        else:
            raise SmimeError(f"unsupported signer key type {type(public).__name__}")
    except SmimeError:
        raise
    except Exception as exc:
        raise SmimeError(
            f"bad signature ({type(exc).__name__}): the message or signature was altered"
        ) from None


def _chain_problem(
    leaf: x509.Certificate,
    untrusted: list[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    when: dt.datetime,
) -> str:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store

    if not anchors:
        return "no trust anchors configured (smime.trust_anchors)"
    builder = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(when)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
    )
    try:
        builder.build_client_verifier().verify(leaf, [c for c in untrusted if c != leaf])
    except Exception as exc:
        return f"the signer's certificate does not chain to a trust anchor: {exc}"
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ""
    if (
        ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku
        and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku
    ):
        return "the signer's certificate is not for e-mail protection (extended key usage)"
    return ""


def _addresses(cert: x509.Certificate) -> tuple[str, ...]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    found: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found.extend(san.get_values_for_type(x509.RFC822Name))
    except x509.ExtensionNotFound:
        pass
    found.extend(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS))
    return tuple(dict.fromkeys(found))


def _ski(cert: x509.Certificate) -> bytes | None:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None
