"""AUTH with Credentials: PLAIN (authzid for a shared mailbox), LOGIN, XOAUTH2; refusals hide secrets."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mailconduit import AuthenticationError, Credentials, Secret, TlsMode
from mailconduit.testing import CertFiles, Expect, Send, SmtpRecorder, SmtpServer, canary
from mailconduit_smtp import SmtpTransport

from .conftest import MakeAccount

MESSAGE = b"Subject: auth\r\n\r\nbody\r\n"
QUIT = [Expect(rb"^QUIT"), Send(b"221 bye\r\n")]


def b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


@pytest.mark.parametrize("tls", [TlsMode.STARTTLS, TlsMode.TLS])
def test_plain_login_over_tls(
    tls: TlsMode, smtp_server: SmtpServer, smtp_user: Credentials, make_account: MakeAccount
) -> None:
    port = smtp_server.starttls_port if tls is TlsMode.STARTTLS else smtp_server.tls_port
    with SmtpTransport().open(make_account(port, tls), smtp_user) as session:
        assert session.mechanism == "PLAIN"
        session.send("support@example.test", ["a@example.test"], MESSAGE)
    assert smtp_server.messages[0].auth_user == smtp_user.username


def test_shared_mailbox_sends_plain_with_authzid(
    smtp_server: SmtpServer, smtp_user: Credentials, make_account: MakeAccount
) -> None:
    delegate = Credentials(
        kind="password", username=smtp_user.username, secret=smtp_user.secret, authzid="shared@example.test"
    )
    SmtpTransport().open(make_account(smtp_server.tls_port, TlsMode.TLS), delegate).close()
    auth_line = next(line for line in smtp_server.sessions[0].received() if line.startswith(b"AUTH"))
    decoded = base64.b64decode(auth_line.split()[2])
    assert decoded.split(b"\0")[:2] == [b"shared@example.test", smtp_user.username.encode()]


def test_bad_password_is_an_authentication_error_without_the_secret(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    user = smtp_server.add_user()
    wrong = canary("password")
    bad = Credentials(kind="password", username=user.name, secret=Secret(wrong))
    with pytest.raises(AuthenticationError) as caught:
        SmtpTransport().open(make_account(smtp_server.tls_port, TlsMode.TLS), bad)
    text = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert wrong not in text and b64(wrong.encode()).decode()[:12] not in text
    assert user.name in text and "535" in text and "127.0.0.1" in text
    assert caught.value.temporary is False
    assert smtp_server.sessions[0].commands()[-1] == "QUIT"  # the session was closed politely


def test_login_when_the_server_offers_only_login(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server(
        [
            Send(b"220 fake ESMTP\r\n"),
            Expect(rb"^EHLO"),
            Send(b"250-fake\r\n250 AUTH LOGIN\r\n"),
            Expect(rb"^AUTH LOGIN\r\n$"),
            Send(b"334 VXNlcm5hbWU6\r\n"),
            Expect(b"^" + b64(b"alice") + rb"\r\n$"),
            Send(b"334 UGFzc3dvcmQ6\r\n"),
            Expect(b"^" + b64("p\u00e4ss".encode()) + rb"\r\n$"),
            Send(b"235 2.7.0 ok\r\n"),
            Expect(rb"^QUIT"),
            Send(b"221 bye\r\n"),
        ]
    )
    shared = Credentials(
        kind="password", username="alice", secret=Secret("p\u00e4ss"), authzid="shared@x.test"
    )
    session = SmtpTransport().open(make_account(server.port), shared)
    assert session.mechanism == "LOGIN"
    session.close()
    server.wait_for_connections(1)
    assert server.errors == []


def test_no_usable_mechanism_is_reported_with_what_the_server_offers(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server(
        [Send(b"220 fake\r\n"), Expect(rb"^EHLO"), Send(b"250-fake\r\n250 AUTH CRAM-MD5\r\n"), *QUIT]
    )
    creds = Credentials(kind="password", username="alice", secret=Secret(canary("password")))
    with pytest.raises(AuthenticationError, match="offers only CRAM-MD5"):
        SmtpTransport().open(make_account(server.port), creds)


def test_hostile_reply_echoing_the_auth_blob_is_redacted(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    secret = canary("password")
    blob = b64(b"\0alice\0" + secret.encode())
    server = scripted_server(
        [
            Send(b"220 fake\r\n"),
            Expect(rb"^EHLO"),
            Send(b"250-fake\r\n250 AUTH PLAIN\r\n"),
            Expect(rb"^AUTH PLAIN"),
            Send(b"535 bad credentials " + blob + b"\r\n"),
            *QUIT,
        ]
    )
    creds = Credentials(kind="password", username="alice", secret=Secret(secret))
    with pytest.raises(AuthenticationError) as caught:
        SmtpTransport().open(make_account(server.port), creds)
    assert blob.decode() not in str(caught.value) and "535 bad credentials ***" in str(caught.value)


class OAuthRecorder(SmtpRecorder):
    """The harness recorder plus XOAUTH2 with one valid token per user (the Microsoft/Google reply shapes)."""

    def __init__(self, tokens: dict[str, str]) -> None:
        super().__init__()
        self.tokens = tokens

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        from aiosmtpd.smtp import AuthResult

        raw = base64.b64decode(args[1]) if len(args) == 2 else await server.challenge_auth("")
        fields = dict(p.split("=", 1) for p in raw.decode().split("\x01") if "=" in p)
        user, auth = fields.get("user", ""), fields.get("auth", "")
        if auth.startswith("Bearer ") and self.tokens.get(user) == auth[7:]:
            server.record.auth_user = user
            return AuthResult(success=True, auth_data=user)
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")


@pytest.fixture
def oauth_server(server_cert: CertFiles) -> Iterator[tuple[SmtpServer, str]]:
    token = canary("token")
    with SmtpServer(server_cert, recorder=OAuthRecorder({"shared@example.test": token})) as server:
        yield server, token


def test_bearer_token_uses_xoauth2_for_the_mailbox_user(
    oauth_server: tuple[SmtpServer, str], make_account: MakeAccount
) -> None:
    server, token = oauth_server
    creds = Credentials(
        kind="bearer", username="app@example.test", secret=Secret(token), authzid="shared@example.test"
    )
    with SmtpTransport().open(make_account(server.tls_port, TlsMode.TLS), creds) as session:
        assert session.mechanism == "XOAUTH2"
        session.send("shared@example.test", ["a@example.test"], MESSAGE)
    assert server.messages[0].auth_user == "shared@example.test"


def test_refused_token_answers_the_error_challenge_and_raises(
    oauth_server: tuple[SmtpServer, str], make_account: MakeAccount
) -> None:
    server, _token = oauth_server
    expired = canary("token")
    creds = Credentials(kind="bearer", username="shared@example.test", secret=Secret(expired))
    with pytest.raises(AuthenticationError) as caught:
        SmtpTransport().open(make_account(server.tls_port, TlsMode.TLS), creds)
    assert "535 5.7.3 Authentication unsuccessful" in str(caught.value)
    assert expired not in str(caught.value)
    # after the 334 error challenge the client sent one empty line, as XOAUTH2 requires
    received = server.sessions[0].received()
    auth_at = next(i for i, line in enumerate(received) if line.startswith(b"AUTH XOAUTH2"))
    assert received[auth_at + 1] == b"\r\n"
