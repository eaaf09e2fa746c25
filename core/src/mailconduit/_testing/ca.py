"""The test certificate authority (trustme) and server certificates, good and deliberately bad.

Every harness server presents a leaf for ``127.0.0.1``, ``localhost`` and ``::1`` issued by one
session CA, so clients verify for real with ``ssl.create_default_context(cafile=ca_pem)``. The stdlib
clients (smtplib, imaplib, poplib) do NOT verify without an explicit context: always pass one.

Fixtures:

* ``test_ca`` (session): the ``trustme.CA``.
* ``ca_pem`` (session): path of the CA certificate (PEM), for ``cafile=`` / ``ca_file:`` settings.
* ``client_ssl_context``: a fresh verifying client context trusting only the test CA.
* ``server_cert`` (session): :class:`CertFiles` of a good server leaf (chain + key files).

Helpers for TLS failure tests (RELIABILITY.md B7/H1), each returning :class:`CertFiles` a server can
present (pass them to ``scripted_server(..., cert=...)``): :func:`issue_server_cert` with ``kind``
``"good"``, ``"wrong_host"`` (valid chain, names ``wrong-host.invalid`` only), ``"expired"`` (valid
chain, expired yesterday), ``"self_signed"`` (its own issuer) or ``"unknown_ca"`` (issued by a CA
nobody trusts).
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    import trustme

__all__ = [
    "CERT_KINDS",
    "LOOPBACK_NAMES",
    "CertFiles",
    "CertKind",
    "ca_pem",
    "client_ssl_context",
    "issue_server_cert",
    "server_cert",
    "test_ca",
]

CertKind = Literal["good", "wrong_host", "expired", "self_signed", "unknown_ca"]
CERT_KINDS: tuple[CertKind, ...] = ("good", "wrong_host", "expired", "self_signed", "unknown_ca")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class CertFiles:
    """A server certificate on disk.

    Attributes:
        cert: PEM with the leaf first, then its chain.
        key: PEM private key (mode 0600).
        kind: which kind of certificate this is (see :data:`CERT_KINDS`).
    """

    cert: Path
    key: Path
    kind: CertKind = "good"

    def server_context(self) -> ssl.SSLContext:
        """A server-side SSL context presenting this certificate (TLS 1.2+)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


def _new_ca() -> trustme.CA:
    try:
        import trustme
    except ImportError:
        from mailconduit._testing.require import missing_server

        missing_server("trustme", "pip install 'mailconduit[testing]'")
    return trustme.CA()


def _write_leaf(leaf: Any, directory: Path, name: str, kind: CertKind) -> CertFiles:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    with cert.open("wb") as out:
        for blob in leaf.cert_chain_pems:
            out.write(blob.bytes())
    leaf.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    return CertFiles(cert, key, kind)


def _self_signed(directory: Path, name: str) -> CertFiles:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailconduit self-signed test")])
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return CertFiles(cert_path, key_path, "self_signed")


def issue_server_cert(
    ca: trustme.CA, directory: Path, kind: CertKind = "good", *, name: str | None = None
) -> CertFiles:
    """Write a server certificate of the given ``kind`` into ``directory``.

    Args:
        ca: the test CA (the trusted issuer for ``good``, ``wrong_host`` and ``expired``).
        directory: where ``<name>.pem`` and ``<name>.key`` go.
        kind: ``good`` (loopback names), ``wrong_host`` (only ``wrong-host.invalid``), ``expired``
            (ended yesterday), ``self_signed`` or ``unknown_ca`` (an untrusted issuer).
        name: file stem, default the kind.
    """
    stem = name or kind
    if kind == "good":
        return _write_leaf(ca.issue_cert(*LOOPBACK_NAMES), directory, stem, kind)
    if kind == "wrong_host":
        return _write_leaf(ca.issue_cert("wrong-host.invalid"), directory, stem, kind)
    if kind == "expired":
        now = dt.datetime.now(dt.UTC)
        leaf = ca.issue_cert(
            *LOOPBACK_NAMES, not_before=now - dt.timedelta(days=10), not_after=now - dt.timedelta(days=1)
        )
        return _write_leaf(leaf, directory, stem, kind)
    if kind == "self_signed":
        return _self_signed(directory, stem)
    if kind == "unknown_ca":
        return _write_leaf(_new_ca().issue_cert(*LOOPBACK_NAMES), directory, stem, kind)
    raise ValueError(f"unknown certificate kind {kind!r}; use one of {', '.join(CERT_KINDS)}")


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    """The session's certificate authority (``trustme.CA``); every harness server uses it."""
    return _new_ca()


@pytest.fixture(scope="session")
def ca_pem(test_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the test CA certificate (PEM)."""
    path = tmp_path_factory.mktemp("test-ca") / "ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def client_ssl_context(ca_pem: Path) -> ssl.SSLContext:
    """A verifying client context that trusts only the test CA (host names are checked)."""
    return ssl.create_default_context(cafile=str(ca_pem))


@pytest.fixture(scope="session")
def server_cert(test_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertFiles]:
    """A good server certificate for the loopback names, issued by ``test_ca``."""
    yield issue_server_cert(test_ca, tmp_path_factory.mktemp("server-cert"), "good", name="server")
