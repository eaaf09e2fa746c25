"""Certificates learnt from signed mail received, kept in the store and used by a later process (issue 8.2).

One account receives from Dovecot and sends through aiosmtpd, with ``smime.encrypt.certificates_from:
[received]`` and ``require_encryption``. A message signed by ``openssl cms -sign`` (a certificate of
the test CA for bob) is replicated by one ``mailconduit fetch`` process; a new ``mailconduit send``
process to bob then finds bob's certificate in the store, and what arrives at aiosmtpd decrypts with
``openssl cms -decrypt`` and bob's key. A tampered signed message teaches nothing, and a certificate
learnt from mail signed while it was valid but expired since is refused: both sends fail with a
per-recipient error and nothing reaches aiosmtpd.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from mailconduit import open_store
from mailconduit._store._models import LearntCertificate, MessageRow
from mailconduit.testing import DovecotServer, MailUser, SmtpServer, canary, missing_server

pytest.importorskip("mailconduit_smime")
pytest.importorskip("mailconduit_smtp")
pytest.importorskip("mailconduit_imap")

pytestmark = pytest.mark.servers

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
OpenSsl = Callable[..., subprocess.CompletedProcess[bytes]]


# ---------------------------------------------------------------------------------------- PKI
class Pki:
    """A CA (valid for years back and forward) issuing e-mail certificates into ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailconduit learnt-certs CA")])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - 1000 * DAY)
            .not_valid_after(NOW + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_pem = directory / "ca.pem"
        self.ca_pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, address: str, *, not_before: dt.datetime, not_after: dt.datetime) -> Identity:
        """An RSA identity for ``address`` valid from ``not_before`` to ``not_after``."""
        return Identity(self, address, not_before, not_after)


class Identity:
    """An RSA key and an S/MIME certificate (signing and key encipherment) with PEM files for openssl."""

    def __init__(self, ca: Pki, address: str, not_before: dt.datetime, not_after: dt.datetime) -> None:
        self.address = address
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(ca.cert.subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
            )
            .sign(ca.key, hashes.SHA256())
        )
        stem = ca.dir / address.replace("@", "_at_")
        self.cert_pem, self.key_pem = stem.with_suffix(".pem"), stem.with_suffix(".key")
        self.cert_pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.key_pem.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def pkcs12(self, path: Path, passphrase: str) -> Path:
        encryption = serialization.BestAvailableEncryption(passphrase.encode())
        path.write_bytes(pkcs12.serialize_key_and_certificates(b"me", self.key, self.cert, None, encryption))
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("learnt-certs"))


@pytest.fixture(scope="module")
def openssl() -> OpenSsl:
    binary = shutil.which("openssl")
    if binary is None:
        missing_server("openssl", "apt-get install openssl")

    def run(*args: object, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([binary, *map(str, args)], input=input, capture_output=True, check=False)

    return run


# ---------------------------------------------------------------------------------------- setup
CONFIG = """
database: sqlite:///{db}
accounts:
  me:
    email: {email}
    ca_file: {ca_file}
    auth: {{method: password, username: {user}, password: '${{env:MC_PW}}'}}
    receive: {{protocol: imap, host: 127.0.0.1, port: {imap_port}, tls: none, timeout: 10s}}
    send: {{protocol: smtp, host: 127.0.0.1, port: {smtp_port}, tls: none, timeout: 10s, max_attempts: 1}}
    smime:
      sign: {{pkcs12: {p12}, passphrase: '${{env:P12_PASS}}'}}
      encrypt: {{certificates_from: [received]}}
      require_encryption: true
      trust_anchors: {anchors}
"""


class Setup:
    """The account's config file, its store and the two servers; runs the CLI as new processes."""

    def __init__(
        self,
        tmp_path: Path,
        pki: Pki,
        ca_pem: Path,
        dovecot: DovecotServer,
        user: MailUser,
        smtp: SmtpServer,
    ) -> None:
        self.tmp, self.dovecot, self.user, self.smtp = tmp_path, dovecot, user, smtp
        smtp.add_user(user.name, user.password)  # the account logs in to both with the same password
        passphrase = canary("passphrase")
        address = f"{user.name}-learn@example.test"
        self.me = pki.issue(address, not_before=NOW - DAY, not_after=NOW + 365 * DAY)
        self.db = tmp_path / "store.db"
        self.config = tmp_path / "mailconduit.yaml"
        self.config.write_text(
            CONFIG.format(
                db=self.db,
                email=self.me.address,
                ca_file=json.dumps(str(ca_pem)),
                user=json.dumps(user.name),
                imap_port=dovecot.imap_port,
                smtp_port=smtp.plain_port,
                p12=json.dumps(str(self.me.pkcs12(tmp_path / "me.p12", passphrase))),
                anchors=json.dumps(str(pki.ca_pem)),
            )
        )
        self.env = {**os.environ, "MC_PW": user.password, "P12_PASS": passphrase}
        self.secrets = (user.password, passphrase)
        assert self.cli("db", "upgrade").returncode == 0

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m mailconduit --config ... ARGS`` in a new process."""
        done = subprocess.run(
            [sys.executable, "-m", "mailconduit", "--config", str(self.config), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        for secret in self.secrets:
            assert secret not in done.stdout and secret not in done.stderr
        return done

    def receive(self, message: bytes) -> dict[str, Any]:
        """Seed ``message`` into Dovecot, replicate it in a ``mailconduit fetch`` process; its annotations."""
        self.dovecot.seed(self.user, [message])
        done = self.cli("fetch", "me", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["stored"] == 1, done.stdout
        store = open_store(f"sqlite:///{self.db}")
        try:
            with store.session(readonly=True) as session:
                rows = list(session.scalars(select(MessageRow).order_by(MessageRow.id.desc())))
                return dict(rows[0].annotations or {})
        finally:
            store.close()

    def learnt(self) -> list[tuple[str, str, int | None]]:
        """The stored learnt certificates: (address, sha256, message id)."""
        store = open_store(f"sqlite:///{self.db}")
        try:
            with store.session(readonly=True) as session:
                rows = session.scalars(select(LearntCertificate).where(LearntCertificate.account == "me"))
                return sorted((r.address, r.sha256, r.message_id) for r in rows)
        finally:
            store.close()

    def send(self, to: str, text: str) -> subprocess.CompletedProcess[str]:
        """``mailconduit send -a me --to TO`` with ``text`` as the body, in a new process."""
        body = self.tmp / "body.txt"
        body.write_text(text)
        return self.cli("send", "-a", "me", "--to", to, "-s", "Quarterly figures", "--text", str(body))


@pytest.fixture
def setup(
    tmp_path: Path,
    pki: Pki,
    ca_pem: Path,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    smtp_server: SmtpServer,
) -> Setup:
    return Setup(tmp_path, pki, ca_pem, dovecot, dovecot_user, smtp_server)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def signed_by_openssl(openssl: OpenSsl, tmp: Path, who: Identity, to: str, name: str) -> bytes:
    """A detached ``multipart/signed`` message from ``who`` made by ``openssl cms -sign``."""
    inner = tmp / f"{name}-inner.eml"
    inner.write_bytes(b"Content-Type: text/plain; charset=us-ascii\r\n\r\nMy certificate is attached.\r\n")
    signed = openssl(
        "cms", "-sign", "-in", inner, "-signer", who.cert_pem, "-inkey", who.key_pem, "-md", "sha256",
        "-from", who.address, "-to", to, "-subject", f"Signed {name}",
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    head = f"Message-ID: <{name}-learn@example.test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n".encode()
    return crlf(head + signed.stdout)


def signed_at(who: Identity, to: str, when: dt.datetime, name: str) -> bytes:
    """A detached ``multipart/signed`` message from ``who`` whose CMS signing-time is ``when``.

    ``openssl cms -sign`` always signs "now"; mail signed in the past, while a since expired
    certificate was valid, is built here (CMS SignedData with asn1crypto, RSA PKCS#1 v1.5 SHA-256).
    """
    from asn1crypto import cms, core
    from asn1crypto import x509 as asn1_x509

    entity = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned long ago.\r\n"
    cert = asn1_x509.Certificate.load(who.der)
    attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": when})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(entity).digest()]}),
        ]
    )
    signature = who.key.sign(attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
    signer = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": cert.issuer, "serial_number": cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "data"},
            "certificates": [cert],
            "signer_infos": [signer],
        }
    )
    der = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    assert isinstance(core.Asn1Value.load(der), core.Sequence)
    p7s = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        (
            f"From: {who.address}\r\nTo: {to}\r\nSubject: Signed {name}\r\n"
            f"Message-ID: <{name}-learn@example.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; '
            'boundary="b-learn"\r\n\r\n'
            "--b-learn\r\n"
        ).encode()
        + entity
        + (
            b"\r\n--b-learn\r\n"
            b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=smime.p7s\r\n\r\n" + p7s + b"\r\n--b-learn--\r\n"
        )
    )


# ---------------------------------------------------------------------------------------- tests
def test_certificate_learnt_by_one_process_encrypts_in_another_and_openssl_decrypts(
    setup: Setup, pki: Pki, openssl: OpenSsl
) -> None:
    bob = pki.issue("bob@example.test", not_before=NOW - DAY, not_after=NOW + 365 * DAY)
    annotations = setup.receive(signed_by_openssl(openssl, setup.tmp, bob, setup.me.address, "bob"))
    assert annotations.get("smime.verified") == "yes", annotations
    assert annotations.get("smime.signer_matches_from") == "yes", annotations
    ((address, digest, message_id),) = setup.learnt()
    assert (address, digest) == (bob.address, hashlib.sha256(bob.der).hexdigest())
    assert message_id is not None

    body = "Bob, the quarterly figures: 4711.\n"
    sent = setup.send(bob.address, body)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    (arrived,) = setup.smtp.wait_for_messages(1)
    assert arrived.rcpt_tos == (bob.address,)
    assert b"4711" not in arrived.data
    assert b"smime-type=enveloped-data" in arrived.data
    (setup.tmp / "arrived.eml").write_bytes(arrived.data)
    opened = openssl(
        "cms", "-decrypt", "-in", setup.tmp / "arrived.eml", "-recip", bob.cert_pem, "-inkey", bob.key_pem
    )
    assert opened.returncode == 0, opened.stderr
    (setup.tmp / "inner.eml").write_bytes(opened.stdout)
    verified = openssl("cms", "-verify", "-in", setup.tmp / "inner.eml", "-CAfile", pki.ca_pem)
    assert verified.returncode == 0, verified.stderr
    assert b"the quarterly figures: 4711." in verified.stdout


def test_tampered_signed_mail_teaches_nothing_and_the_send_fails_per_recipient(
    setup: Setup, pki: Pki, openssl: OpenSsl
) -> None:
    carol = pki.issue("carol@example.test", not_before=NOW - DAY, not_after=NOW + 365 * DAY)
    intact = signed_by_openssl(openssl, setup.tmp, carol, setup.me.address, "carol")
    tampered = intact.replace(b"My certificate is attached.", b"My certificate is attaches.")
    assert tampered != intact
    annotations = setup.receive(tampered)
    assert annotations.get("smime.signature") == "invalid", annotations
    assert setup.learnt() == []

    sent = setup.send(carol.address, "Carol, the secret plan.\n")
    assert sent.returncode == 1, sent.stdout + sent.stderr
    assert f"{carol.address}: no certificate found" in sent.stdout + sent.stderr
    assert setup.smtp.messages == []


def test_expired_learnt_certificate_is_not_used(setup: Setup, pki: Pki, openssl: OpenSsl) -> None:
    erin = pki.issue("erin@example.test", not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    when = (NOW - 200 * DAY).replace(microsecond=0)
    message = signed_at(erin, setup.me.address, when, "erin")
    (setup.tmp / "erin.eml").write_bytes(message)
    checked = openssl(  # the independent peer agrees the signature is good at its signing time
        "cms", "-verify", "-in", setup.tmp / "erin.eml", "-CAfile", pki.ca_pem,
        "-attime", int(when.timestamp()), "-out", os.devnull,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    annotations = setup.receive(message)
    assert annotations.get("smime.verified") == "yes", annotations
    assert [row[0] for row in setup.learnt()] == [erin.address]  # learnt, valid when it was signed

    sent = setup.send(erin.address, "Erin, the secret plan.\n")
    assert sent.returncode == 1, sent.stdout + sent.stderr
    assert f"{erin.address}: received certificate" in sent.stdout + sent.stderr
    assert "expired on" in sent.stdout + sent.stderr
    assert setup.smtp.messages == []
