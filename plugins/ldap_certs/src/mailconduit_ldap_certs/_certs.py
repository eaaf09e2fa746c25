"""Turning directory values (certificates, or PKCS#7 bundles of them) into ``mailconduit.Certificate``."""

from __future__ import annotations

from mailconduit import Certificate

__all__ = ["certificates_from_value"]

_KEY_USAGES = {
    "digital_signature": "digitalSignature",
    "content_commitment": "contentCommitment",
    "key_encipherment": "keyEncipherment",
    "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
}


def certificates_from_value(value: bytes) -> list[Certificate]:
    """The certificates in one attribute value (DER certificate or PKCS#7); [] when it holds none."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
    from cryptography.x509.oid import NameOID

    try:
        certs = [x509.load_der_x509_certificate(value)]
    except ValueError:
        try:
            certs = pkcs7.load_der_pkcs7_certificates(value)
        except ValueError:
            return []
    found: list[Certificate] = []
    for cert in certs:
        addresses: set[str] = set()
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            addresses.update(san.get_values_for_type(x509.RFC822Name))
        except x509.ExtensionNotFound:
            pass
        addresses.update(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS))
        usages: set[str] = set()
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            usages.update(name for attr, name in _KEY_USAGES.items() if getattr(usage, attr))
        except x509.ExtensionNotFound:
            pass
        found.append(
            Certificate(
                der=cert.public_bytes(Encoding.DER),
                subject=cert.subject.rfc4514_string(),
                addresses=frozenset(addresses),
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                key_usage=frozenset(usages),
                source="ldap",
            )
        )
    return found
