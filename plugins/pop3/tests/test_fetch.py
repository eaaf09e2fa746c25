"""Fetching from Dovecot: byte-exact RETR, oldest/latest/limit, new mail seen by a new session, pipelining."""

from __future__ import annotations

from typing import Any

import pytest

from mailconduit import Credentials, Secret, TlsMode, TransportError
from mailconduit.testing import DovecotServer, Expect, MailUser, Send
from mailconduit_pop3 import Pop3Transport

from .conftest import MakeAccount, crlf_message

INBOX = "INBOX"


@pytest.mark.parametrize("tls", [TlsMode.TLS, TlsMode.STARTTLS, TlsMode.NONE])
def test_seeded_messages_come_back_byte_exact_in_order(
    tls: TlsMode,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    pop3_credentials: Credentials,
    make_account: MakeAccount,
) -> None:
    big = crlf_message(99, b"..dots everywhere\r\n" * 150_000)  # ~3 MB, dot-stuffed on the wire
    messages = [crlf_message(n) for n in range(5)] + [big]
    dovecot.seed(dovecot_user, messages)
    port = dovecot.pop3s_port if tls is TlsMode.TLS else dovecot.pop3_port
    mailbox = Pop3Transport().open(make_account(port, tls), pop3_credentials)
    try:
        assert mailbox.capabilities() == frozenset({"delete"})
        refs = mailbox.list_new(INBOX, (), True, None)
        fetched = list(mailbox.fetch(INBOX, refs))
        assert [raw.data for raw in fetched] == messages
        assert [raw.ref for raw in fetched] == refs
        assert [r.size for r in refs] == [len(m) for m in messages]  # LIST sizes, CRLF counted
        assert len({r.key for r in refs}) == len(messages)
    finally:
        mailbox.close()


def test_oldest_latest_and_limit_select_exactly(
    dovecot: DovecotServer, dovecot_user: MailUser, pop3_credentials: Credentials, make_account: MakeAccount
) -> None:
    messages = [crlf_message(n) for n in range(10)]
    dovecot.seed(dovecot_user, messages)
    mailbox = Pop3Transport().open(make_account(dovecot.pop3s_port, TlsMode.TLS), pop3_credentials)
    try:
        everything = mailbox.list_new(INBOX, (), True, None)
        keys = [r.key for r in everything]
        oldest = mailbox.list_new(INBOX, keys[:2], True, 3)
        assert [raw.data for raw in mailbox.fetch(INBOX, oldest)] == messages[2:5]
        latest = mailbox.list_new(INBOX, keys[-1:], False, 3)
        assert [raw.data for raw in mailbox.fetch(INBOX, latest)] == messages[8:5:-1]
        assert mailbox.list_new(INBOX, keys, True, None) == []
        assert mailbox.state(INBOX).exists == 10 and mailbox.state(INBOX).uidvalidity is None
    finally:
        mailbox.close()


def test_a_new_delivery_is_seen_and_keys_stay_stable_across_sessions(
    dovecot: DovecotServer, dovecot_user: MailUser, pop3_credentials: Credentials, make_account: MakeAccount
) -> None:
    account = make_account(dovecot.pop3_port, TlsMode.STARTTLS)
    dovecot.seed(dovecot_user, [crlf_message(1)])
    first = Pop3Transport().open(account, pop3_credentials)
    try:
        keys = [r.key for r in first.list_new(INBOX, (), True, None)]
        dovecot.seed(dovecot_user, [crlf_message(2)])
        new = first.list_new(INBOX, keys, True, None)
        assert [raw.data for raw in first.fetch(INBOX, new)] == [crlf_message(2)]
    finally:
        first.close()
    second = Pop3Transport().open(account, pop3_credentials)
    try:
        assert second.list_new(INBOX, [*keys, new[0].key], True, None) == []
    finally:
        second.close()


def test_other_folders_moves_and_idle_are_refused_clearly(
    dovecot: DovecotServer, pop3_credentials: Credentials, make_account: MakeAccount
) -> None:
    mailbox = Pop3Transport().open(make_account(dovecot.pop3s_port, TlsMode.TLS), pop3_credentials)
    try:
        assert [f.name for f in mailbox.folders()] == [INBOX]
        with pytest.raises(ValueError, match="POP3 has no folders") as caught:
            mailbox.list_new("Archive", (), True, None)
        assert "accounts.inbox.receive.folder" in str(caught.value)
        with pytest.raises(TransportError, match="cannot move") as moved:
            mailbox.move(INBOX, [], "Archive")
        assert moved.value.temporary is False
        assert mailbox.wait(INBOX, 5.0) is False
    finally:
        mailbox.close()


def _login(caps: bytes) -> list[Any]:
    return [
        Send(b"+OK fake POP3 ready\r\n"),
        Expect(rb"^CAPA"),
        Send(caps),
        Expect(rb"^USER alice\r\n$"),
        Send(b"+OK\r\n"),
        Expect(rb"^PASS "),
        Send(b"+OK logged in\r\n"),
        Expect(rb"^CAPA"),
        Send(caps),
    ]


LISTING = [
    Expect(rb"^STAT"),
    Send(b"+OK 3 30\r\n"),
    Expect(rb"^UIDL\r\n$"),
    Send(b"+OK\r\n1 u1\r\n2 u2\r\n3 u3\r\n.\r\n"),
    Expect(rb"^LIST\r\n$"),
    Send(b"+OK\r\n1 10\r\n2 10\r\n3 10\r\n.\r\n"),
]


def test_retr_is_pipelined_when_offered(scripted_server: Any, make_account: MakeAccount) -> None:
    """The server reads all three RETRs before it answers any: a one-by-one client would time out."""
    caps = b"+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\n.\r\n"
    replies = b"".join(f"+OK 10 octets\r\nmessage {n}\r\n.\r\n".encode() for n in (1, 2, 3))
    server = scripted_server(
        [
            *_login(caps),
            *LISTING,
            Expect(rb"^RETR 1"),
            Expect(rb"^RETR 2"),
            Expect(rb"^RETR 3"),
            Send(replies),
        ]
    )
    credentials = Credentials(kind="password", username="alice", secret=Secret("pw"))
    mailbox = Pop3Transport().open(make_account(server.port, timeout=3.0), credentials)
    try:
        refs = mailbox.list_new(INBOX, (), True, None)
        assert [raw.data for raw in mailbox.fetch(INBOX, refs)] == [
            b"message 1\r\n",
            b"message 2\r\n",
            b"message 3\r\n",
        ]
    finally:
        mailbox.close()
    server.wait_for_connections(1)
    assert server.errors == []


def test_retr_waits_for_each_reply_without_pipelining(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    caps = b"+OK\r\nUSER\r\nUIDL\r\n.\r\n"
    steps: list[Any] = [*_login(caps), *LISTING]
    for n in (3, 2):  # each RETR is read only after the previous reply went out
        steps += [Expect(f"^RETR {n}\r\n$".encode()), Send(f"+OK\r\nmessage {n}\r\n.\r\n".encode())]
    server = scripted_server(steps)
    credentials = Credentials(kind="password", username="alice", secret=Secret("pw"))
    mailbox = Pop3Transport().open(make_account(server.port, timeout=3.0), credentials)
    try:
        refs = mailbox.list_new(INBOX, (), False, 2)
        assert [r.key for r in refs] == ["u3", "u2"]
        assert [raw.data for raw in mailbox.fetch(INBOX, refs)] == [b"message 3\r\n", b"message 2\r\n"]
    finally:
        mailbox.close()
    server.wait_for_connections(1)
    assert [line for line in server.received if line.startswith(b"RETR")] == [b"RETR 3\r\n", b"RETR 2\r\n"]
