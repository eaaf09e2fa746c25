"""A10 on Dovecot: DELE acts only on QUIT; delete() returns once QUIT committed it; no UIDL, no delete."""

from __future__ import annotations

from typing import Any

import pytest

from mailconduit import Credentials, Secret, ServerReplyError, TlsMode, TransportError
from mailconduit.testing import DovecotServer, Expect, Fault, MailUser, Send
from mailconduit_pop3 import Pop3Transport
from mailconduit_pop3._transport import open_client

from .conftest import MakeAccount, crlf_message

INBOX = "INBOX"


def test_dele_then_a_dropped_connection_deletes_nothing(
    dovecot: DovecotServer, dovecot_user: MailUser, pop3_credentials: Credentials, make_account: MakeAccount
) -> None:
    dovecot.seed(dovecot_user, [crlf_message(1), crlf_message(2)])
    account = make_account(dovecot.pop3s_port, TlsMode.TLS)
    client = open_client(account, pop3_credentials)
    client.command("STAT", b"STAT\r\n")
    assert client.command("DELE", b"DELE 1\r\n").startswith(b"+OK")
    client.abort()  # the process dies between DELE and QUIT
    assert len(dovecot.message_files(dovecot_user)) == 2
    mailbox = Pop3Transport().open(account, pop3_credentials)
    try:
        refs = mailbox.list_new(INBOX, (), True, None)
        assert [raw.data for raw in mailbox.fetch(INBOX, refs)] == [crlf_message(1), crlf_message(2)]
    finally:
        mailbox.close()


def test_delete_is_committed_when_it_returns(
    dovecot: DovecotServer, dovecot_user: MailUser, pop3_credentials: Credentials, make_account: MakeAccount
) -> None:
    dovecot.seed(dovecot_user, [crlf_message(n) for n in range(4)])
    mailbox = Pop3Transport().open(make_account(dovecot.pop3s_port, TlsMode.TLS), pop3_credentials)
    try:
        refs = mailbox.list_new(INBOX, (), True, None)
        mailbox.delete(INBOX, [refs[0], refs[2]])
        assert len(dovecot.message_files(dovecot_user)) == 2  # on disk before any other call
        left = mailbox.list_new(INBOX, (), True, None)
        assert [r.key for r in left] == [refs[1].key, refs[3].key]
        mailbox.delete(INBOX, [refs[0], refs[2]])  # gone already: skipped, no error
        assert [raw.data for raw in mailbox.fetch(INBOX, refs)] == [crlf_message(1), crlf_message(3)]
    finally:
        mailbox.close()


def test_a_cut_before_quit_reaches_the_server_deletes_nothing_and_raises(
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    pop3_credentials: Credentials,
    make_account: MakeAccount,
    fault_proxy: Any,
) -> None:
    dovecot.seed(dovecot_user, [crlf_message(1), crlf_message(2)])
    proxy = fault_proxy(dovecot.pop3_port)
    sent_before_quit = b"".join(
        [
            b"CAPA\r\n",
            f"USER {pop3_credentials.username}\r\n".encode(),
            f"PASS {pop3_credentials.secret.reveal()}\r\n".encode(),
            b"CAPA\r\nSTAT\r\nUIDL\r\nLIST\r\nDELE 1\r\nDELE 2\r\n",
        ]
    )
    proxy.set_fault(Fault.cut(after=len(sent_before_quit), direction="up"))
    mailbox = Pop3Transport().open(make_account(proxy.port, TlsMode.NONE), pop3_credentials)
    try:
        refs = mailbox.list_new(INBOX, (), True, None)
        with pytest.raises(TransportError) as caught:
            mailbox.delete(INBOX, refs)
        assert "DELE" in str(caught.value) or "QUIT" in str(caught.value)
        assert proxy.connections[0].sent["up"] == len(sent_before_quit)  # every DELE reached Dovecot
    finally:
        mailbox.close()
    assert len(dovecot.message_files(dovecot_user)) == 2


def test_a_server_without_uidl_refuses_listing_and_delete(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    caps = b"+OK\r\nUSER\r\nTOP\r\n.\r\n"
    server = scripted_server(
        [
            Send(b"+OK fake\r\n"),
            Expect(rb"^CAPA"),
            Send(caps),
            Expect(rb"^USER"),
            Send(b"+OK\r\n"),
            Expect(rb"^PASS"),
            Send(b"+OK\r\n"),
            Expect(rb"^CAPA"),
            Send(caps),
            Expect(rb"^QUIT"),
            Send(b"+OK bye\r\n"),
        ]
    )
    credentials = Credentials(kind="password", username="alice", secret=Secret("pw"))
    mailbox = Pop3Transport().open(make_account(server.port, timeout=3.0), credentials)
    try:
        assert mailbox.capabilities() == frozenset()
        with pytest.raises(ServerReplyError, match="does not support UIDL") as caught:
            mailbox.list_new(INBOX, (), True, None)
        assert caught.value.temporary is False
        with pytest.raises(ServerReplyError, match="does not support UIDL"):
            mailbox.delete(INBOX, [])
    finally:
        mailbox.close()
    server.wait_for_connections(1)
    assert not any(line.startswith((b"DELE", b"UIDL")) for line in server.received)
