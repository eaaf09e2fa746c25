"""S/MIME across plugins, configured in YAML (issue 8 "Done when", with ``openssl`` as the peer).

Sending: the real outbox signs with the account's PKCS#12 (passphrase from ``${env:P12_PASS}``),
encrypts with the recipient's certificate found in the private slapd, and hands the result to
aiosmtpd; what arrived has no plaintext and opens and verifies with ``openssl cms``. A recipient
without a certificate under ``require_encryption`` fails the send and nothing arrives. Bcc
recipients, who are only in the envelope, are encrypted to as well (an EC one by ECDH key
agreement next to RSA ones); a Bcc recipient without a certificate stops the send the same way.

Receiving: a message signed and encrypted by ``openssl`` is seeded into Dovecot and replicated
through the imap plugin; the stored row records the decryption and the verified signer, and the
stored bytes are exactly what Dovecot serves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import imaplib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

import mailconduit
from mailconduit import Address, Message, MessageStatus
from mailconduit._replicate import replicate
from mailconduit._store import Store, open_store
from mailconduit._store._models import MessageRow
from mailconduit._store._repo_messages import raw_bytes
from mailconduit.testing import DovecotServer, MailUser, SlapdServer, SmtpServer, canary, missing_server

smime = pytest.importorskip("mailconduit_smime")
pytest.importorskip("mailconduit_ldap_certs")
pytest.importorskip("mailconduit_smtp")
pytest.importorskip("mailconduit_imap")

pytestmark = pytest.mark.servers

OpenSsl = Callable[..., subprocess.CompletedProcess[bytes]]
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
_PLUGINS: Any = None


def plugins() -> Any:
    """The installed plugins, loaded once per process."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = mailconduit.load_plugins()
    return _PLUGINS


# ---------------------------------------------------------------------------------------- PKI
class Identity:
    """An RSA (or EC P-256) key and an e-mail certificate for ``address``, with PEM files for openssl."""

    def __init__(self, ca: Pki, address: str, *, ec_key: bool = False) -> None:
        self.address = address
        self.key: Any = (
            ec.generate_private_key(ec.SECP256R1())
            if ec_key
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        usage = dict.fromkeys(("content_commitment", "data_encipherment", "key_cert_sign", "crl_sign"), False)
        usage["key_agreement"] = ec_key  # EC keys agree on a key (ECDH), RSA keys encipher one
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(ca.cert.subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_encipherment=not ec_key,
                    encipher_only=False,
                    decipher_only=False,
                    **usage,
                ),
                critical=True,
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
        """The certificate, DER."""
        return self.cert.public_bytes(serialization.Encoding.DER)

    def pkcs12(self, path: Path, passphrase: str) -> Path:
        """Write key and certificate as a PKCS#12 file encrypted with ``passphrase``."""
        encryption = serialization.BestAvailableEncryption(passphrase.encode())
        path.write_bytes(pkcs12.serialize_key_and_certificates(b"me", self.key, self.cert, None, encryption))
        return path


class Pki:
    """A CA issuing S/MIME certificates into ``directory`` (its certificate in ``ca_pem``)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailconduit e2e S/MIME CA")])
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
        self.ca_pem = directory / "smime-ca.pem"
        self.ca_pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, address: str, *, ec_key: bool = False) -> Identity:
        """A new identity for ``address`` (an EC P-256 key with ``ec_key``)."""
        return Identity(self, address, ec_key=ec_key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("smime-e2e"))


@pytest.fixture(scope="module")
def openssl() -> OpenSsl:
    binary = shutil.which("openssl")
    if binary is None:
        missing_server("openssl", "apt-get install openssl")

    def run(*args: object, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([binary, *map(str, args)], input=input, capture_output=True, check=False)

    return run


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------- sending
SEND_YAML = """
accounts:
  alice:
    email: {email}
    ca_file: {ca_file}
    send: {{protocol: smtp, host: 127.0.0.1, port: {smtp_port}, tls: none, timeout: 10s, max_attempts: 1}}
    smime:
      sign: {{pkcs12: {p12}, passphrase: '${{env:P12_PASS}}'}}
      encrypt: {{certificates_from: [ldap]}}
      require_encryption: true
      trust_anchors: {anchors}
    ldap: {{host: 127.0.0.1, port: {ldap_port}, tls: starttls}}
"""


@pytest.fixture
def outbox(pki: Pki, slapd: SlapdServer, smtp_server: SmtpServer, ca_pem: Path, tmp_path: Path) -> Any:
    passphrase = canary("passphrase")
    alice = pki.issue("alice-e2e@example.test")
    text = SEND_YAML.format(
        email=alice.address,
        ca_file=json.dumps(str(ca_pem)),
        smtp_port=smtp_server.plain_port,
        p12=json.dumps(str(alice.pkcs12(tmp_path / "alice.p12", passphrase))),
        anchors=json.dumps(str(pki.ca_pem)),
        ldap_port=slapd.port,
    )
    config = mailconduit.load_config(text, plugins(), environ={"P12_PASS": passphrase})
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield mailconduit.Outbox(store, config, plugins())
    store.close()


def test_outbox_signs_and_encrypts_with_the_ldap_certificate_and_openssl_opens_it(
    outbox: Any, pki: Pki, slapd: SlapdServer, smtp_server: SmtpServer, tmp_path: Path, openssl: OpenSsl
) -> None:
    carol = pki.issue("carol-e2e@example.test")
    slapd.add_entry(carol.address, [carol.der])
    body = "Hello Carol,\n\nthe contract is attached.\n"
    report = outbox.send_now("alice", Message(to=[Address(carol.address)], subject="Contract 7", text=body))
    assert report.status == MessageStatus.SENT, report
    assert any(carol.address in f for f in slapd.logged_filters())  # the certificate came from slapd
    (arrived,) = [m for m in smtp_server.messages if carol.address in m.rcpt_tos]
    assert b"the contract is attached" not in arrived.data
    assert b"smime-type=enveloped-data" in arrived.data
    (tmp_path / "arrived.eml").write_bytes(arrived.data)
    opened = openssl(
        "cms", "-decrypt", "-in", tmp_path / "arrived.eml", "-recip", carol.cert_pem, "-inkey", carol.key_pem
    )
    assert opened.returncode == 0, opened.stderr
    (tmp_path / "inner.eml").write_bytes(opened.stdout)
    verified = openssl(
        "cms", "-verify", "-in", tmp_path / "inner.eml", "-CAfile", pki.ca_pem, "-purpose", "smimesign"
    )
    assert verified.returncode == 0, verified.stderr
    assert b"the contract is attached" in verified.stdout


def test_recipient_without_certificate_fails_the_send_and_nothing_arrives(
    outbox: Any, smtp_server: SmtpServer
) -> None:
    nobody = "no-cert-e2e@example.test"
    with pytest.raises(smime.RecipientCertificateError, match=nobody):
        outbox.send_now(
            "alice", Message(to=[Address(nobody)], subject="Secret", text="plaintext must not leave\n")
        )
    assert not [m for m in smtp_server.messages if nobody in m.rcpt_tos]
    assert all(b"plaintext must not leave" not in m.data for m in smtp_server.messages)
    assert outbox.counts().get("queued", 0) == 0


def test_bcc_recipients_are_encrypted_to_and_decrypt_with_openssl(
    outbox: Any, pki: Pki, slapd: SlapdServer, smtp_server: SmtpServer, tmp_path: Path, openssl: OpenSsl
) -> None:
    to = pki.issue("to-bcc-e2e@example.test")
    hidden_rsa = pki.issue("hidden-rsa-e2e@example.test")
    hidden_ec = pki.issue("hidden-ec-e2e@example.test", ec_key=True)
    for who in (to, hidden_rsa, hidden_ec):
        slapd.add_entry(who.address, [who.der])
    body = "Board minutes, not for forwarding.\n"
    message = Message(
        to=[Address(to.address)],
        bcc=[Address(hidden_rsa.address), Address(hidden_ec.address)],
        subject="Minutes",
        text=body,
    )
    report = outbox.send_now("alice", message)
    assert report.status == MessageStatus.SENT, report
    (arrived,) = [m for m in smtp_server.messages if to.address in m.rcpt_tos]
    assert set(arrived.rcpt_tos) == {to.address, hidden_rsa.address, hidden_ec.address}
    head = arrived.data.split(b"\r\n\r\n", 1)[0]
    assert b"hidden-" not in head and b"Bcc" not in head  # Bcc stays in the envelope
    assert b"not for forwarding" not in arrived.data
    (tmp_path / "arrived.eml").write_bytes(arrived.data)
    for who in (hidden_rsa, hidden_ec, to):
        opened = openssl(
            "cms", "-decrypt", "-in", tmp_path / "arrived.eml", "-recip", who.cert_pem, "-inkey", who.key_pem
        )
        assert opened.returncode == 0, (who.address, opened.stderr)
        (tmp_path / "inner.eml").write_bytes(opened.stdout)
        verified = openssl("cms", "-verify", "-in", tmp_path / "inner.eml", "-CAfile", pki.ca_pem)
        assert verified.returncode == 0, verified.stderr
        assert b"not for forwarding" in verified.stdout
    printed = openssl("cms", "-cmsout", "-print", "-in", tmp_path / "arrived.eml").stdout
    assert b"dhSinglePass-stdDH-sha256kdf-scheme" in printed  # the EC Bcc recipient by key agreement


def test_bcc_recipient_without_certificate_fails_the_send_and_nothing_arrives(
    outbox: Any, pki: Pki, slapd: SlapdServer, smtp_server: SmtpServer
) -> None:
    to = pki.issue("to-nocert-e2e@example.test")
    slapd.add_entry(to.address, [to.der])
    nobody = "hidden-nocert-e2e@example.test"
    message = Message(
        to=[Address(to.address)],
        bcc=[Address(nobody)],
        subject="Secret",
        text="bcc plaintext must not leave\n",
    )
    with pytest.raises(smime.RecipientCertificateError, match=nobody) as caught:
        outbox.send_now("alice", message)
    assert set(caught.value.problems) == {nobody}  # the To recipient had a certificate
    assert not [m for m in smtp_server.messages if to.address in m.rcpt_tos or nobody in m.rcpt_tos]
    assert all(b"bcc plaintext must not leave" not in m.data for m in smtp_server.messages)
    assert outbox.counts().get("queued", 0) == 0


# ---------------------------------------------------------------------------------------- receiving
RECEIVE_YAML = """
accounts:
  acct:
    email: {email}
    ca_file: {ca_file}
    auth: {{method: password, username: {user}, password: '${{env:PW}}'}}
    receive: {{protocol: imap, host: 127.0.0.1, port: {port}, tls: none, timeout: 10s}}
    smime:
      sign: {{pkcs12: {p12}, passphrase: '${{env:P12_PASS}}'}}
      trust_anchors: {anchors}
"""


def served(dovecot: DovecotServer, user: MailUser) -> list[bytes]:
    """Every INBOX message as Dovecot serves it (BODY.PEEK[])."""
    client = imaplib.IMAP4("127.0.0.1", dovecot.imap_port, timeout=20)
    try:
        client.login(user.name, user.password)
        client.select("INBOX", readonly=True)
        typ, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert typ == "OK", data
        return [part[1] for part in data if isinstance(part, tuple)]
    finally:
        client.logout()


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    yield opened
    opened.close()


def test_signed_and_encrypted_by_openssl_is_replicated_with_its_verified_signer(
    pki: Pki,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    ca_pem: Path,
    store: Store,
    tmp_path: Path,
    openssl: OpenSsl,
) -> None:
    me = pki.issue(f"{dovecot_user.name}-e2e@example.test")
    dave = pki.issue("dave-e2e@example.test")
    inner = tmp_path / "inner.eml"
    inner.write_bytes(b"Content-Type: text/plain; charset=us-ascii\r\n\r\nThe vault code is 4711.\r\n")
    signed = openssl(
        "smime", "-sign", "-in", inner, "-signer", dave.cert_pem, "-inkey", dave.key_pem, "-md", "sha256"
    )
    assert signed.returncode == 0, signed.stderr
    (tmp_path / "signed.eml").write_bytes(signed.stdout)
    sealed = openssl(
        "smime", "-encrypt", "-aes256", "-in", tmp_path / "signed.eml",
        "-from", dave.address, "-to", me.address, "-subject", "Vault",
        me.cert_pem,
    )  # fmt: skip
    assert sealed.returncode == 0, sealed.stderr
    head = b"Message-ID: <vault-e2e@example.test>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
    original = (head + sealed.stdout).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert b"vault code" not in original
    dovecot.seed(dovecot_user, [original])
    (on_server,) = served(dovecot, dovecot_user)

    passphrase = canary("passphrase")
    text = RECEIVE_YAML.format(
        email=me.address,
        ca_file=json.dumps(str(ca_pem)),
        user=json.dumps(dovecot_user.name),
        port=dovecot.imap_port,
        p12=json.dumps(str(me.pkcs12(tmp_path / "me.p12", passphrase))),
        anchors=json.dumps(str(pki.ca_pem)),
    )
    environ = {"PW": dovecot_user.password, "P12_PASS": passphrase}
    account = mailconduit.load_config(text, plugins(), environ=environ).account("acct")
    result = replicate(account, store=store, plugins=plugins())
    assert result.stored == 1, result

    with store.session(readonly=True) as session:
        (row,) = session.scalars(select(MessageRow))
        raw = raw_bytes(session, row.id)
        assert raw is not None
        notes = dict(row.annotations or {})
    assert notes.get("smime.encrypted") == "yes", notes
    assert notes.get("smime.decrypted") == "yes", notes
    assert notes.get("smime.cipher", "").lower().startswith("aes-256"), notes
    assert notes.get("smime.signature") == "valid", notes
    assert notes.get("smime.chain") == "trusted", notes
    assert notes.get("smime.verified") == "yes", notes
    assert notes.get("smime.signer") == dave.address, notes
    assert notes.get("smime.signer_matches_from") == "yes", notes
    assert sha(raw) == sha(on_server) == row.sha256
    assert raw == original
