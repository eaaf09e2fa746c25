"""Reading certificates, CRLs and PKCS#12 files, and the facts the core needs about a certificate."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mailconduit import Certificate, Secret

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "CERT_SUFFIXES",
    "certificate_facts",
    "load_certificates",
    "load_crls",
    "load_pkcs12",
    "to_x509",
]

CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def certificate_facts(cert: x509.Certificate, source: str) -> Certificate:
    """A ``mailconduit.Certificate`` for ``cert``: DER, subject, addresses, validity, key usage."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    addresses: set[str] = set()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        addresses.update(san.get_values_for_type(x509.RFC822Name))
    except x509.ExtensionNotFound:
        pass
    for attribute in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        addresses.add(str(attribute.value))
    usages: set[str] = set()
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        for name in _KEY_USAGES:
            if getattr(usage, name):
                usages.add(_camel(name))
    except x509.ExtensionNotFound:
        pass
    return Certificate(
        der=cert.public_bytes(Encoding.DER),
        subject=cert.subject.rfc4514_string(),
        addresses=frozenset(addresses),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_usage=frozenset(usages),
        source=source,
    )


def to_x509(certificate: Certificate) -> x509.Certificate:
    """The cryptography object of a ``mailconduit.Certificate``."""
    from cryptography import x509

    return x509.load_der_x509_certificate(certificate.der)


def _files(path: Path, suffixes: Iterable[str]) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in tuple(suffixes))
    return [path]


def load_certificates(path: str | Path) -> list[x509.Certificate]:
    """Every certificate in a file (PEM with one or more, or DER) or in a folder of such files.

    Raises:
        OSError: the path cannot be read.
        ValueError: a file holds no certificate; the message names it.
    """
    from cryptography import x509

    found: list[x509.Certificate] = []
    for file in _files(Path(path), CERT_SUFFIXES):
        data = file.read_bytes()
        try:
            if b"-----BEGIN CERTIFICATE-----" in data:
                found.extend(x509.load_pem_x509_certificates(data))
            else:
                found.append(x509.load_der_x509_certificate(data))
        except ValueError:
            raise ValueError(f"{file}: not a PEM or DER certificate") from None
    return found


def load_crls(path: str | Path) -> list[x509.CertificateRevocationList]:
    """Every CRL in a file (PEM or DER) or a folder of ``.crl``/``.pem``/``.der`` files.

    Raises:
        OSError: the path cannot be read.
        ValueError: a file holds no CRL; the message names it.
    """
    from cryptography import x509

    crls: list[x509.CertificateRevocationList] = []
    for file in _files(Path(path), (".crl", ".pem", ".der")):
        data = file.read_bytes()
        try:
            if b"-----BEGIN X509 CRL-----" in data:
                crls.append(x509.load_pem_x509_crl(data))
            else:
                crls.append(x509.load_der_x509_crl(data))
        except ValueError:
            raise ValueError(f"{file}: not a PEM or DER CRL") from None
    return crls


def load_pkcs12(
    path: str | Path, passphrase: Secret | None
) -> tuple[PrivateKeyTypes, x509.Certificate, list[x509.Certificate]]:
    """The key, certificate and chain of a PKCS#12 file (AES/PBKDF2, PBE-SHA1-3DES, RC2-40 legacy).

    Raises:
        OSError: the file cannot be read.
        ValueError: wrong passphrase, or no key or certificate inside (never says the passphrase).
    """
    from cryptography.hazmat.primitives.serialization import pkcs12

    data = Path(path).read_bytes()
    password = passphrase.reveal().encode("utf-8") if passphrase else None
    try:
        key, cert, chain = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise ValueError(
            f"{path}: cannot open the PKCS#12 file: wrong passphrase, or not a PKCS#12 file"
        ) from None
    if key is None or cert is None:
        raise ValueError(f"{path}: the PKCS#12 file holds no private key and certificate")
    return key, cert, list(chain)
