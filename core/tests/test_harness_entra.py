"""The fake Entra authority with the real msal, and the mail servers that check its tokens."""

from __future__ import annotations

import base64
import datetime as dt
import imaplib
import logging
import poplib
import smtplib
import ssl
from pathlib import Path
from typing import Any

import msal  # type: ignore[import-untyped]
import pytest

from mailconduit._testing.canaries import known_canaries
from mailconduit._testing.dovecot import DovecotServer
from mailconduit._testing.entra import FakeEntra, http_client
from mailconduit._testing.smtp import SmtpServer
from mailconduit.testing import canary


@pytest.fixture(autouse=True)
def _msal_logs_no_codes() -> Any:
    """msal logs authorization and device codes at DEBUG (the K1 sweep caught it); as the entra_oauth
    plugin does for applications, these tests that drive msal directly keep its loggers at INFO."""
    msal_log = logging.getLogger("msal")
    previous = msal_log.level
    msal_log.setLevel(logging.INFO)
    yield
    msal_log.setLevel(previous)


IMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"
POP = "https://outlook.office.com/POP.AccessAsUser.All"
SMTP = "https://outlook.office.com/SMTP.Send"
APP = "https://outlook.office365.com/.default"


def _app(idp: FakeEntra, ca: Path, client_id: str, credential: Any) -> Any:
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=idp.authority,
        instance_discovery=False,
        http_client=http_client(str(ca)),
    )


def _xoauth2(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def _cert_pair(tmp_path: Path) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailconduit test app")])
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
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_client_credentials_with_secret_and_with_certificate(
    fake_entra: FakeEntra, ca_pem: Path, tmp_path: Path
) -> None:
    secret = canary("client-secret")
    client = fake_entra.add_client(secret=secret, roles=("IMAP.AccessAsApp",))
    result = _app(fake_entra, ca_pem, client.client_id, secret).acquire_token_for_client([APP])
    assert "access_token" in result, result.get("error_description")
    claims = fake_entra.validate(result["access_token"])
    assert claims is not None and claims["roles"] == ["IMAP.AccessAsApp"]
    assert claims["aud"] == "https://outlook.office365.com"

    cert_pem, key_pem = _cert_pair(tmp_path)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    thumbprint = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex()
    by_cert = fake_entra.add_client(certificate=cert_pem, roles=("SMTP.SendAsApp",))
    credential = {"private_key": key_pem.decode(), "thumbprint": thumbprint}
    result = _app(fake_entra, ca_pem, by_cert.client_id, credential).acquire_token_for_client([APP])
    assert "access_token" in result, result.get("error_description")
    # a wrong secret is Entra's AADSTS7000215
    bad = _app(fake_entra, ca_pem, client.client_id, "wrong").acquire_token_for_client([APP])
    assert bad["error"] == "invalid_client" and 7000215 in bad["error_codes"]


def test_auth_code_with_pkce_through_the_browser_and_refresh(fake_entra: FakeEntra, ca_pem: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from urllib.parse import parse_qs

    secret = canary("client-secret")
    client = fake_entra.add_client(secret=secret)
    user = fake_entra.add_user("harness-alice@example.test")
    received: dict[str, str] = {}

    class Callback(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.update({k: v[0] for k, v in parse_qs(body).items()})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"signed in")

        def log_message(self, *args: Any) -> None:
            pass

    listener = HTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=listener.handle_request, daemon=True).start()
    redirect = f"http://127.0.0.1:{listener.server_address[1]}/"
    app = _app(fake_entra, ca_pem, client.client_id, secret)
    flow = app.initiate_auth_code_flow([IMAP], redirect_uri=redirect, response_mode="form_post")
    page = fake_entra.browse(flow["auth_uri"], str(ca_pem), login=user.upn, password=user.password)
    listener.server_close()
    assert page == "signed in"
    result = app.acquire_token_by_auth_code_flow(flow, received)
    assert "access_token" in result, result.get("error_description")
    assert fake_entra.authorize(user.upn, result["access_token"], "imap")
    assert not fake_entra.authorize(user.upn, result["access_token"], "pop3")  # no POP scope
    assert known_canaries().get(received["code"]) == "auth-code"
    account = app.get_accounts()[0]
    before = fake_entra.token_requests(client.client_id, "refresh_token")
    again = app.acquire_token_silent([IMAP], account=account, force_refresh=True)
    assert again["access_token"] != result["access_token"]
    assert fake_entra.token_requests(client.client_id, "refresh_token") == before + 1
    fake_entra.revoke_refresh_tokens(user.upn)
    failed = app.acquire_token_silent_with_error([IMAP], account=account, force_refresh=True)
    assert failed["error"] == "invalid_grant" and 700082 in failed["error_codes"]


def test_device_code_polls_until_approved(fake_entra: FakeEntra, ca_pem: Path) -> None:
    client = fake_entra.add_client()
    user = fake_entra.add_user("harness-dev@example.test")
    fake_entra.device_user = user.upn
    app = msal.PublicClientApplication(
        client.client_id,
        authority=fake_entra.authority,
        instance_discovery=False,
        http_client=http_client(str(ca_pem)),
    )
    flow = app.initiate_device_flow([POP])
    assert "user_code" in flow, flow
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result.get("error_description")
    device = "urn:ietf:params:oauth:grant-type:device_code"
    assert fake_entra.token_requests(client.client_id, device) == 2  # authorization_pending, then success
    assert fake_entra.authorize(user.upn, result["access_token"], "pop3")


def test_injected_throttling_carries_retry_after(fake_entra: FakeEntra, ca_pem: Path) -> None:
    import requests

    client = fake_entra.add_client(secret=canary("client-secret"))
    fake_entra.inject(429, "temporarily_unavailable", 50196, retry_after=7, client_id=client.client_id)
    answer = requests.post(
        fake_entra.token_endpoint, data={"client_id": client.client_id}, verify=str(ca_pem), timeout=5
    )
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    assert answer.json()["error_codes"] == [50196]


def test_wrong_ca_is_refused(fake_entra: FakeEntra, tmp_path: Path) -> None:
    import requests
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(requests.exceptions.SSLError):
        http_client(str(other)).get(
            fake_entra.authority + "/v2.0/.well-known/openid-configuration", timeout=5
        )


def test_dovecot_checks_tokens_like_exchange(
    oauth_dovecot: DovecotServer, fake_entra: FakeEntra, ca_pem: Path
) -> None:
    alice_box, shared_box, bob_box = (oauth_dovecot.add_user() for _ in range(3))
    alice = fake_entra.add_user(alice_box.address)
    fake_entra.add_user(bob_box.address)
    fake_entra.grant_mailbox(shared_box.address, delegate=alice.upn)
    token = fake_entra.access_token("some-client", [IMAP], user=alice.upn)
    context = ssl.create_default_context(cafile=str(ca_pem))
    for mailbox, ok in ((alice_box, True), (shared_box, True), (bob_box, False)):
        blob = _xoauth2(mailbox.address, token)
        with imaplib.IMAP4_SSL("127.0.0.1", oauth_dovecot.imaps_port, ssl_context=context) as client:
            if ok:
                client.authenticate("XOAUTH2", lambda _, b=blob: b)
                assert client.select("INBOX")[0] == "OK"
            else:
                with pytest.raises(imaplib.IMAP4.error):
                    client.authenticate("XOAUTH2", lambda c, b=blob: b"" if c else b)
    pop = poplib.POP3_SSL("127.0.0.1", oauth_dovecot.pop3s_port, context=context)
    reply = pop._shortcmd("AUTH XOAUTH2 " + base64.b64encode(_xoauth2(alice_box.address, token)).decode())
    assert not reply.startswith(b"+OK")  # an IMAP-only token: the error challenge ...
    with pytest.raises(poplib.error_proto):
        pop._shortcmd("")  # ... then -ERR
    pop.close()


def test_smtp_checks_tokens(oauth_smtp_server: SmtpServer, fake_entra: FakeEntra, ca_pem: Path) -> None:
    alice = fake_entra.add_user("harness-smtp@example.test")
    good = fake_entra.access_token("c", [SMTP], user=alice.upn)
    context = ssl.create_default_context(cafile=str(ca_pem))
    with smtplib.SMTP("127.0.0.1", oauth_smtp_server.starttls_port) as smtp:
        smtp.starttls(context=context)
        smtp.ehlo()  # smtplib's auth() does not EHLO again after STARTTLS
        smtp.auth("XOAUTH2", lambda c=None: "" if c else _xoauth2(alice.upn, good).decode())
        smtp.sendmail(alice.upn, ["x@example.test"], b"Subject: hi\r\n\r\nhi\r\n")
    fake_entra.revoke_access_tokens()
    with smtplib.SMTP("127.0.0.1", oauth_smtp_server.starttls_port) as smtp:
        smtp.starttls(context=context)
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.auth("XOAUTH2", lambda c=None: "" if c else _xoauth2(alice.upn, good).decode())
    assert [m.auth_user for m in oauth_smtp_server.messages] == [alice.upn]
