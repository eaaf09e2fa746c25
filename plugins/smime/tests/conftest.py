"""A small S/MIME PKI for the smime plugin's tests, accounts using it, and the openssl CLI as the peer.

``pki`` (session) is a CA that issues e-mail certificates (RSA or EC, any validity and key usage)
and CRLs; ``openssl(...)`` runs the ``openssl`` command and returns its output (skipping the test
when openssl is missing).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailconduit import Account, Address, Certificate, Secret
from mailconduit.testing import canary, missing_server
from mailconduit_smime import EncryptSettings, SignSettings, SmimeSettings
from mailconduit_smime._certs import certificate_facts

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
ENCRYPT_USAGE = {"digital_signature": True, "key_encipherment": True}


@dataclass
class Identity:
    """A key and certificate, with PEM files for openssl."""

    address: str
    key: Any
    cert: x509.Certificate
    cert_pem: Path
    key_pem: Path

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def pkcs12(self, path: Path, passphrase: str | None) -> Path:
        encryption = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase
            else serialization.NoEncryption()
        )
        path.write_bytes(pkcs12.serialize_key_and_certificates(b"me", self.key, self.cert, None, encryption))
        return path


class Pki:
    """A CA issuing S/MIME certificates into ``directory``."""

    def __init__(self, directory: Path, name: str = "mailconduit S/MIME test CA") -> None:
        self.dir = directory
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - 30 * DAY)
            .not_valid_after(NOW + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_pem = directory / f"ca-{id(self)}.pem"
        self.ca_pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._n = 0

    def issue(
        self,
        address: str,
        *,
        kind: str = "rsa",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        usage: dict[str, bool] | None = None,
    ) -> Identity:
        self._n += 1
        key: Any
        if kind == "ed25519":
            key = ed25519.Ed25519PrivateKey.generate()
        elif kind.startswith("ec"):  # "ec" (P-256), "ec384", "ec521"
            curve = {"ec": ec.SECP256R1(), "ec384": ec.SECP384R1(), "ec521": ec.SECP521R1()}[kind]
            key = ec.generate_private_key(curve)
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        flags = dict.fromkeys(
            (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        flags.update(
            usage or ({"digital_signature": True, "key_agreement": True} if kind != "rsa" else ENCRYPT_USAGE)
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - DAY)
            .not_valid_after(not_after or NOW + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(**flags), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        stem = self.dir / f"id-{self._n}"
        cert_pem, key_pem = stem.with_suffix(".pem"), stem.with_suffix(".key")
        cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return Identity(address, key, cert, cert_pem, key_pem)

    def crl(self, path: Path, revoked: Sequence[x509.Certificate]) -> Path:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(NOW - DAY)
            .next_update(NOW + 30 * DAY)
        )
        for cert in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(NOW - DAY)
                .build()
            )
        path.write_bytes(builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("smime-pki"))


@pytest.fixture(scope="session")
def alice(pki: Pki) -> Identity:
    """The sending account's RSA identity."""
    return pki.issue("alice@example.test")


@pytest.fixture(scope="session")
def bob(pki: Pki) -> Identity:
    """A recipient's RSA identity."""
    return pki.issue("bob@example.test")


MakeAccount = Callable[..., Account]


@pytest.fixture
def make_account(tmp_path: Path, pki: Pki) -> MakeAccount:
    """An account with an ``smime:`` section signing as ``identity`` (passphrase a canary by default)."""

    def make(
        identity: Identity | None,
        *,
        passphrase: str | None = "canary",
        opaque: bool = False,
        encrypt: EncryptSettings | None = None,
        **settings: Any,
    ) -> Account:
        sign = None
        if passphrase == "canary":
            passphrase = canary("passphrase")
        if identity is not None:
            p12 = identity.pkcs12(tmp_path / f"{identity.address}.p12", passphrase)
            sign = SignSettings(
                pkcs12=str(p12), passphrase=Secret(passphrase) if passphrase else None, opaque=opaque
            )
        settings.setdefault("trust_anchors", str(pki.ca_pem))
        smime = SmimeSettings(sign=sign, encrypt=encrypt, **settings)
        email = identity.address if identity else "alice@example.test"
        return Account(name="alice", email=email, sections={"smime": smime})

    return make


def lookup_for(*identities: Identity) -> Callable[..., dict[Address, list[Certificate]]]:
    """A certificate lookup that knows exactly ``identities`` (as the ``files`` source)."""
    table = {i.address: certificate_facts(i.cert, "files") for i in identities}

    def lookup(addresses: list[Address]) -> dict[Address, list[Certificate]]:
        return {a: [table[a.addr_spec]] if a.addr_spec in table else [] for a in addresses}

    return lookup


def message(to: str = "bob@example.test", body: str = "Hello Bob,\n\nthe invoice is attached.\n") -> bytes:
    """A small plain-text message built with the stdlib (CRLF)."""
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage(policy=SMTP.clone(cte_type="7bit"))
    msg["From"] = "Alice <alice@example.test>"
    msg["To"] = to
    msg["Subject"] = "Invoice 42"
    msg["Message-ID"] = "<invoice-42@example.test>"
    msg.set_content(body)
    return msg.as_bytes()


@pytest.fixture(scope="session")
def openssl() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Run ``openssl ARGS`` with ``input`` bytes; returns the completed process (check it yourself)."""
    binary = shutil.which("openssl")
    if binary is None:
        missing_server("openssl", "apt-get install openssl")

    def run(*args: object, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([binary, *map(str, args)], input=input, capture_output=True, check=False)

    return run
