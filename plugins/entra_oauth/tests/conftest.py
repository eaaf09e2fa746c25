"""A config with three Entra providers (one per flow) against the fake authority, Dovecot and aiosmtpd."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mailconduit import Outbox
from mailconduit.testing import DovecotServer, FakeEntra, MailUser, SmtpServer, canary


@dataclass
class Env:
    """Everything a test needs: the config file, the servers, the users and the app registrations."""

    config: Path
    idp: FakeEntra
    dovecot: DovecotServer
    smtp: SmtpServer
    ca: Path
    alice: MailUser
    shared: MailUser
    dev: MailUser
    svc_box: MailUser
    clients: dict[str, str]

    def outbox(self) -> Outbox:
        """An Outbox over the config (it attaches the auth context the authenticator needs)."""
        return Outbox.open(self.config)

    def cli(self, *args: str, browser: Any = None) -> Any:
        """Run ``mailconduit --config FILE ARGS`` in-process."""
        from mailconduit._cli import cli
        from mailconduit._cli._context import CliContext

        return CliRunner().invoke(cli, ["--config", str(self.config), *args], obj=CliContext())


def _self_signed(tmp_path: Path) -> tuple[Path, Path, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailconduit app")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = tmp_path / "app.pem", tmp_path / "app.key"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path, pem


@pytest.fixture
def env(
    tmp_path: Path,
    fake_entra: FakeEntra,
    oauth_dovecot: DovecotServer,
    oauth_smtp_server: SmtpServer,
    ca_pem: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Env]:
    """Users alice (owner), shared (alice has FullAccess), dev (device code), svc_box (app-only)."""
    alice, shared, dev, svc_box = (oauth_dovecot.add_user() for _ in range(4))
    fake_entra.add_user(alice.address)
    fake_entra.add_user(dev.address)
    fake_entra.grant_mailbox(shared.address, delegate=alice.address)
    secret = canary("client-secret")
    code = fake_entra.add_client(secret=secret)
    device = fake_entra.add_client()
    cert_path, key_path, pem = _self_signed(tmp_path)
    app = fake_entra.add_client(
        certificate=pem, roles=("SMTP.SendAsApp", "IMAP.AccessAsApp", "POP.AccessAsApp")
    )
    fake_entra.grant_mailbox(svc_box.address, app=app.client_id)
    fake_entra.device_user = dev.address
    monkeypatch.setenv("MAILCONDUIT_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    monkeypatch.setenv("ENTRA_SECRET", secret)
    send = (
        f"send: {{protocol: smtp, host: 127.0.0.1, port: {oauth_smtp_server.starttls_port}, tls: starttls}}"
    )
    imap = f"receive: {{protocol: imap, host: 127.0.0.1, port: {oauth_dovecot.imaps_port}, tls: tls}}"
    pop3 = f"receive: {{protocol: pop3, host: 127.0.0.1, port: {oauth_dovecot.pop3s_port}, tls: tls}}"
    provider = f"tenant: {fake_entra.tenant}\n    authority: {fake_entra.base}\n    ca_file: {ca_pem}"
    config = tmp_path / "mailconduit.yaml"
    config.write_text(
        f"""
database: sqlite:///{tmp_path}/store.db
oauth_providers:
  code:
    type: entra
    client_id: {code.client_id}
    client_secret: ${{env:ENTRA_SECRET}}
    flow: authorization_code
    {provider}
  device:
    type: entra
    client_id: {device.client_id}
    flow: device_code
    {provider}
  app:
    type: entra
    client_id: {app.client_id}
    certificate: {{pem: {cert_path}, key: {key_path}}}
    flow: client_credentials
    {provider}
accounts:
  alice:
    email: {alice.address}
    ca_file: {ca_pem}
    auth: {{method: entra_oauth, provider: code}}
    {send}
    {imap}
  alice_shared:
    email: {alice.address}
    shared_mailbox: {shared.address}
    ca_file: {ca_pem}
    auth: {{method: entra_oauth, provider: code, username: {alice.address}}}
    {pop3}
  dev:
    email: {dev.address}
    ca_file: {ca_pem}
    auth: {{method: entra_oauth, provider: device}}
    {send}
    {pop3}
  svc:
    email: {svc_box.address}
    ca_file: {ca_pem}
    auth: {{method: entra_oauth, provider: app}}
    {send}
    {imap}
  svc_other:
    email: {alice.address}
    ca_file: {ca_pem}
    auth: {{method: entra_oauth, provider: app}}
    {imap}
""",
        encoding="utf-8",
    )
    clients = {"code": code.client_id, "device": device.client_id, "app": app.client_id}
    yield Env(
        config, fake_entra, oauth_dovecot, oauth_smtp_server, ca_pem, alice, shared, dev, svc_box, clients
    )
