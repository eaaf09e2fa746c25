"""Logins: master-user AUTH PLAIN on Dovecot, spaces in passwords, two-step XOAUTH2, G2, RFC 3206 codes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mailconduit import (
    AuthenticationError,
    Credentials,
    HeaderInjectionError,
    Secret,
    ServerReplyError,
    TlsMode,
)
from mailconduit.testing import DovecotServer, Expect, Send, canary
from mailconduit_pop3 import Pop3Transport

from .conftest import MakeAccount, crlf_message

INBOX = "INBOX"
GREETING = Send(b"+OK fake\r\n")
CAPS = b"+OK\r\nUSER\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\n.\r\n"


def test_shared_mailbox_through_a_dovecot_master_user(
    dovecot: DovecotServer, make_account: MakeAccount
) -> None:
    owner = dovecot.add_user()
    master = dovecot.add_master_user()
    dovecot.grant(owner, master.name)
    dovecot.seed(owner, [crlf_message(7)])
    credentials = Credentials(
        kind="password", username=master.name, secret=Secret(master.password), authzid=owner.name
    )
    mailbox = Pop3Transport().open(make_account(dovecot.pop3s_port, TlsMode.TLS), credentials)
    try:
        refs = mailbox.list_new(INBOX, (), True, None)
        assert [raw.data for raw in mailbox.fetch(INBOX, refs)] == [crlf_message(7)]
    finally:
        mailbox.close()


def test_a_password_with_spaces_logs_in_through_auth_plain(
    dovecot: DovecotServer, make_account: MakeAccount
) -> None:
    user = dovecot.add_user(password=f"correct horse {canary('password')}")
    credentials = Credentials(kind="password", username=user.name, secret=Secret(user.password))
    mailbox = Pop3Transport().open(make_account(dovecot.pop3_port, TlsMode.STARTTLS), credentials)
    try:
        assert mailbox.state(INBOX).exists == 0
    finally:
        mailbox.close()


@pytest.mark.parametrize(
    ("username", "password", "caps", "field"),
    [
        ("alice\r\nDELE 1", "pw", b"+OK\r\nUSER\r\n.\r\n", "POP3 USER argument"),
        ("alice", "pw\r\nDELE 1", b"+OK\r\nUSER\r\n.\r\n", "POP3 PASS argument"),
        ("alice", "pw with space", b"+OK\r\nUSER\r\n.\r\n", "POP3 PASS argument"),
        ("alice", "pw\0x", CAPS, "POP3 AUTH PLAIN argument"),
    ],
)
def test_hostile_credentials_send_nothing(
    username: str, password: str, caps: bytes, field: str, scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server([GREETING, Expect(rb"^CAPA"), Send(caps)])
    credentials = Credentials(kind="password", username=username, secret=Secret(password))
    with pytest.raises(HeaderInjectionError) as caught:
        Pop3Transport().open(make_account(server.port), credentials)
    assert caught.value.field == field and password not in str(caught.value)
    server.wait_for_connections(1)
    assert server.received == [b"CAPA\r\n"]


def test_xoauth2_is_sent_in_two_steps(scripted_server: Any, make_account: MakeAccount) -> None:
    token = canary("token")
    server = scripted_server(
        [
            GREETING,
            Expect(rb"^CAPA"),
            Send(CAPS),
            Expect(rb"^AUTH XOAUTH2\r\n$"),
            Send(b"+ \r\n"),
            Expect(rb"^[A-Za-z0-9+/=]+\r\n$"),
            Send(b"+OK welcome\r\n"),
            Expect(rb"^CAPA"),
            Send(CAPS),
            Expect(rb"^QUIT"),
            Send(b"+OK\r\n"),
        ]
    )
    credentials = Credentials(
        kind="bearer", username="app", authzid="shared@example.test", secret=Secret(token)
    )
    Pop3Transport().open(make_account(server.port), credentials).close()
    server.wait_for_connections(1)
    assert server.errors == []
    blob = base64.b64decode(server.received[2].strip())
    assert blob == f"user=shared@example.test\x01auth=Bearer {token}\x01\x01".encode()


def test_a_refused_token_answers_the_error_challenge_and_raises(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    token = canary("token")
    server = scripted_server(
        [
            GREETING,
            Expect(rb"^CAPA"),
            Send(CAPS),
            Expect(rb"^AUTH XOAUTH2"),
            Send(b"+ \r\n"),
            Expect(rb"^[A-Za-z0-9+/=]+\r\n$"),
            Send(b"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"),
            Expect(rb"^\r\n$"),
            Send(b"-ERR [AUTH] invalid token\r\n"),
        ]
    )
    credentials = Credentials(kind="bearer", username="alice@example.test", secret=Secret(token))
    with pytest.raises(AuthenticationError, match="invalid token") as caught:
        Pop3Transport().open(make_account(server.port), credentials)
    assert token not in str(caught.value)
    server.wait_for_connections(1)
    assert server.errors == []


def test_xoauth2_not_offered_is_a_clear_error(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server([GREETING, Expect(rb"^CAPA"), Send(b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n")])
    credentials = Credentials(kind="bearer", username="alice", secret=Secret(canary("token")))
    with pytest.raises(AuthenticationError, match="does not offer SASL XOAUTH2"):
        Pop3Transport().open(make_account(server.port), credentials)


def test_in_use_is_temporary_not_an_authentication_error(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server(
        [
            GREETING,
            Expect(rb"^CAPA"),
            Send(b"+OK\r\nUSER\r\n.\r\n"),
            Expect(rb"^USER"),
            Send(b"+OK\r\n"),
            Expect(rb"^PASS"),
            Send(b"-ERR [IN-USE] maildrop locked\r\n"),
        ]
    )
    credentials = Credentials(kind="password", username="alice", secret=Secret(canary("password")))
    with pytest.raises(ServerReplyError) as caught:
        Pop3Transport().open(make_account(server.port), credentials)
    assert not isinstance(caught.value, AuthenticationError) and caught.value.temporary
    assert "[IN-USE]" in str(caught.value)
