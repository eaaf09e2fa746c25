"""A9, B6 and B2: malformed listings, endless lines, endless listings and bodies, a blackhole mid-RETR."""

from __future__ import annotations

from typing import Any

import pytest

from mailconduit import Credentials, ProtocolError, Secret, TlsMode, TransportError, TransportTimeout
from mailconduit.testing import DovecotServer, Expect, Fault, MailUser, Repeat, Send, long_line
from mailconduit_pop3 import Pop3Transport

from .conftest import MakeAccount, crlf_message

INBOX = "INBOX"
CAPS = b"+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\n.\r\n"
LOGIN: list[Any] = [
    Send(b"+OK fake\r\n"),
    Expect(rb"^CAPA"),
    Send(CAPS),
    Expect(rb"^USER"),
    Send(b"+OK\r\n"),
    Expect(rb"^PASS"),
    Send(b"+OK\r\n"),
    Expect(rb"^CAPA"),
    Send(CAPS),
]
QUIT: list[Any] = [Expect(rb"^QUIT"), Send(b"+OK bye\r\n")]
CREDENTIALS = Credentials(kind="password", username="alice", secret=Secret("pw"))


def listing(uidl: bytes, list_: bytes = b"+OK\r\n1 10\r\n2 10\r\n.\r\n") -> list[Any]:
    return [
        Expect(rb"^STAT"),
        Send(b"+OK 2 20\r\n"),
        Expect(rb"^UIDL"),
        Send(uidl),
        Expect(rb"^LIST"),
        Send(list_),
    ]


def open_and_list(server: Any, make_account: MakeAccount, **settings: Any) -> Any:
    mailbox = Pop3Transport().open(make_account(server.port, timeout=5.0, **settings), CREDENTIALS)
    try:
        return mailbox.list_new(INBOX, (), True, None), mailbox
    except BaseException:
        mailbox.close()
        raise


@pytest.mark.parametrize(
    ("uidl", "list_", "quoted"),
    [
        (b"+OK\r\n1 a\r\n2\r\n.\r\n", None, "'2'"),
        (b"+OK\r\n1 a\r\n7 b\r\n.\r\n", None, "'7 b'"),
        (b"+OK\r\n1 a\r\n2 a\r\n.\r\n", None, "'2 a'"),
        (b"+OK\r\n1 a\r\n2 b\r\n.\r\n", b"+OK\r\n1 ten\r\n.\r\n", "'1 ten'"),
    ],
    ids=["uidl-short", "uidl-number", "uidl-duplicate", "list-size"],
)
def test_malformed_listing_is_a_protocol_error_naming_account_and_line(
    uidl: bytes, list_: bytes | None, quoted: str, scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server([*LOGIN, *listing(uidl, *([list_] if list_ else []))])
    with pytest.raises(ProtocolError) as caught:
        open_and_list(server, make_account)
    message = str(caught.value)
    assert "account 'inbox'" in message and "127.0.0.1" in message and quoted in message
    server.wait_for_connections(1)
    assert b"QUIT\r\n" not in server.received  # dropped, not politely ended


def test_endless_status_line_is_refused(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server([*LOGIN, Expect(rb"^STAT"), Send(b"+OK "), Send(long_line(10 * 1024 * 1024))])
    with pytest.raises(ProtocolError, match="line longer than 8192"):
        open_and_list(server, make_account)


def test_endless_listing_is_refused_after_stat_count(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server(
        [
            *LOGIN,
            Expect(rb"^STAT"),
            Send(b"+OK 2 20\r\n"),
            Expect(rb"^UIDL"),
            Send(b"+OK\r\n"),
            Repeat(b"1 a\r\n"),
        ]
    )
    with pytest.raises(ProtocolError, match="more than 2 lines"):
        open_and_list(server, make_account)


def test_reply_that_is_neither_ok_nor_err_is_refused(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server([*LOGIN, Expect(rb"^STAT"), Send(b"* 1 FETCH hello\r\n")])
    with pytest.raises(ProtocolError, match="neither"):
        open_and_list(server, make_account)


def test_endless_body_is_refused_at_max_message_size(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server(
        [
            *LOGIN,
            *listing(b"+OK\r\n1 a\r\n2 b\r\n.\r\n"),
            Expect(rb"^RETR 1"),
            Send(b"+OK\r\n"),
            Repeat(b"x" * 1000 + b"\r\n"),
        ]
    )
    refs, mailbox = open_and_list(server, make_account, max_message_size=1_000_000)
    try:
        with pytest.raises(ProtocolError, match="longer than 1000000"):
            list(mailbox.fetch(INBOX, refs[:1]))
    finally:
        mailbox.close()


def test_message_listed_over_the_limit_is_refused_before_retr(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    sizes = b"+OK\r\n1 10\r\n2 99999999\r\n.\r\n"
    server = scripted_server([*LOGIN, *listing(b"+OK\r\n1 a\r\n2 b\r\n.\r\n", sizes), *QUIT])
    refs, mailbox = open_and_list(server, make_account, max_message_size=1_000_000)
    try:
        with pytest.raises(ProtocolError, match=r"over receive\.max_message_size"):
            list(mailbox.fetch(INBOX, refs))
    finally:
        mailbox.close()
    assert not any(line.startswith(b"RETR") for line in server.received)


def test_blackhole_mid_retr_is_the_read_timeout(
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    pop3_credentials: Credentials,
    make_account: MakeAccount,
    fault_proxy: Any,
) -> None:
    big = crlf_message(1, (b"z" * 998 + b"\r\n") * 2000)  # ~2 MB
    dovecot.seed(dovecot_user, [big])
    proxy = fault_proxy(dovecot.pop3s_port)
    proxy.queue(Fault.blackhole(after=500_000))  # login and listing are a few KB: this hits mid-RETR
    mailbox = Pop3Transport().open(make_account(proxy.port, TlsMode.TLS, timeout=1.0), pop3_credentials)
    try:
        refs = mailbox.list_new(INBOX, (), True, None)
        with pytest.raises(TransportTimeout) as caught:
            list(mailbox.fetch(INBOX, refs))
        assert "RETR" in str(caught.value) and "receive.timeout" in str(caught.value)
        assert isinstance(caught.value, TransportError) and caught.value.temporary
    finally:
        mailbox.close()
    proxy.heal()
    healed = Pop3Transport().open(make_account(proxy.port, TlsMode.TLS, timeout=5.0), pop3_credentials)
    try:
        assert [raw.data for raw in healed.fetch(INBOX, refs)] == [big]
    finally:
        healed.close()


def test_a_connection_closed_during_the_tls_handshake_is_a_lost_connection_not_a_tls_failure(
    dovecot: DovecotServer, pop3_credentials: Credentials, fault_proxy: Any, make_account: MakeAccount
) -> None:
    """A server that restarts (or a link cut) mid-handshake is worth retrying, as for SMTP."""
    from mailconduit import TlsError

    credentials = pop3_credentials
    proxy = fault_proxy(dovecot.pop3s_port)
    proxy.set_fault(Fault.cut(20, rst=False))  # a FIN after the first bytes of the server's hello
    account = make_account(proxy.port, TlsMode.TLS, timeout=5)
    with pytest.raises(TransportError) as caught:
        Pop3Transport().open(account, credentials)
    assert not isinstance(caught.value, TlsError), caught.value
    assert caught.value.temporary is True and "connection lost during" in str(caught.value)
    proxy.heal()
    Pop3Transport().open(account, credentials).close()
