"""G1: one API call is one command line; CR/LF/NUL never reach the server; names quoted and encoded."""

from __future__ import annotations

from typing import Any

import pytest

from mailconduit import AuthenticationError, Credentials, HeaderInjectionError, MessageRef, Secret, TlsMode
from mailconduit.testing import Expect, Send
from mailconduit_imap import ImapTransport

from .conftest import MakeAccount
from .fakeimap import LOGOUT, logged_in

SELECT_OK = Send(b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n{tag} OK selected\r\n")
HOSTILE = ["victim\r\nX1 DELETE victim", "victim\nX1 DELETE victim", "victim\rX1 DELETE victim", "vic\0tim"]


@pytest.fixture
def alice() -> Credentials:
    return Credentials(kind="password", username="alice", secret=Secret("pw"))


def commands(server: Any) -> list[bytes]:
    server.wait_for_connections(1)
    return [line.split(b" ", 1)[1] for line in server.received if b" " in line]


@pytest.mark.parametrize("name", HOSTILE)
def test_control_characters_in_names_never_reach_the_server(
    name: str, scripted_server: Any, make_account: MakeAccount, alice: Credentials
) -> None:
    server = scripted_server([*logged_in(), *LOGOUT])
    mailbox = ImapTransport().open(make_account(server.port, TlsMode.NONE), alice)
    for call in (
        lambda: mailbox.state(name),
        lambda: mailbox.list_new(name, (), True, None),
        lambda: list(mailbox.fetch(name, [MessageRef("7:1")])),
        lambda: mailbox.delete(name, [MessageRef("7:1")]),
        lambda: mailbox.move("INBOX", [MessageRef("7:1")], name),
    ):
        with pytest.raises(HeaderInjectionError, match="IMAP mailbox name"):
            call()
    mailbox.close()
    sent = commands(server)
    assert [c.split()[0] for c in sent] == [b"CAPABILITY", b"LOGIN", b"CAPABILITY", b"LOGOUT"]
    assert not any(b"DELETE" in line or b"victim" in line for line in server.received)


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ('a"b\\c', b'SELECT "a\\"b\\\\c"\r\n'),
        ("Entwürfe & Co", b'SELECT "Entw&APw-rfe &- Co"\r\n'),
        ("Contract Archive", b'SELECT "Contract Archive"\r\n'),
    ],
)
def test_names_are_one_quoted_line(
    name: str, wire: bytes, scripted_server: Any, make_account: MakeAccount, alice: Credentials
) -> None:
    server = scripted_server([*logged_in(), Expect(rb"SELECT"), SELECT_OK, *LOGOUT])
    mailbox = ImapTransport().open(make_account(server.port, TlsMode.NONE), alice)
    assert mailbox.state(name).uidvalidity == 7
    mailbox.close()
    assert commands(server)[3:] == [wire, b"LOGOUT\r\n"]


@pytest.mark.parametrize("field", ["username", "secret"])
def test_control_characters_in_credentials_are_refused_before_login(
    field: str, scripted_server: Any, make_account: MakeAccount
) -> None:
    values = {"username": "alice", "secret": "pw"}
    values[field] += "\r\nX1 DELETE INBOX"
    server = scripted_server(logged_in())
    credentials = Credentials(kind="password", username=values["username"], secret=Secret(values["secret"]))
    with pytest.raises(AuthenticationError, match="CR, LF or NUL") as caught:
        ImapTransport().open(make_account(server.port, TlsMode.NONE), credentials)
    assert "X1 DELETE" not in str(caught.value) or field == "username"
    assert not any(b"LOGIN" in line or b"DELETE" in line for line in commands(server))
