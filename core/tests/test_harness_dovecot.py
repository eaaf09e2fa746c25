"""The Dovecot fixture over real IMAP and POP3, with certificate verification on."""

from __future__ import annotations

import imaplib
import poplib
import ssl
import time
from pathlib import Path

import pytest

from mailconduit.testing import DovecotServer, MailUser

pytestmark = pytest.mark.servers


def message(n: int) -> bytes:
    return (
        f"From: sender@example.test\r\nTo: rcpt@example.test\r\nSubject: seeded {n}\r\n"
        f"Message-ID: <seed{n}@example.test>\r\n\r\nBody of message {n}.\r\n.leading dot\r\n"
    ).encode()


def fetch_all(client: imaplib.IMAP4) -> list[bytes]:
    typ, data = client.fetch("1:*", "(BODY.PEEK[])")
    assert typ == "OK"
    return [item[1] for item in data if isinstance(item, tuple)]


def test_imap_starttls_login_select_fetch_byte_exact(
    dovecot: DovecotServer, dovecot_user: MailUser, client_ssl_context: ssl.SSLContext
) -> None:
    seeded = [message(1), message(2)]
    dovecot.seed(dovecot_user, seeded)
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10) as client:
        assert "STARTTLS" in client.capabilities
        client.starttls(ssl_context=client_ssl_context)
        client.login(dovecot_user.address, dovecot_user.password)
        assert client.select("INBOX") == ("OK", [b"2"])
        assert fetch_all(client) == seeded
        assert "IDLE" in client.capabilities


def test_imaps_login_and_seeded_folder_with_flags(
    dovecot: DovecotServer, dovecot_user: MailUser, client_ssl_context: ssl.SSLContext
) -> None:
    dovecot.seed(dovecot_user, [message(n) for n in range(5)], folder="Archive/2024", flags=["\\Seen"])
    with imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=client_ssl_context, timeout=10) as c:
        c.login(dovecot_user.name, dovecot_user.password)
        typ, listing = c.list()
        assert typ == "OK"
        assert any(b'"Archive/2024"' in line or line.endswith(b" Archive/2024") for line in listing)
        assert c.select('"Archive/2024"', readonly=True) == ("OK", [b"5"])
        typ, data = c.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        headers = [item for item in data if isinstance(item, tuple)]
        # UIDs follow the order of the seeded list
        assert [h[1].strip() for h in headers] == [f"Subject: seeded {n}".encode() for n in range(5)]
        assert all(b"\\Seen" in h[0] for h in headers)


def test_wrong_password_is_refused_at_once(dovecot: DovecotServer, dovecot_user: MailUser) -> None:
    with (
        imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10) as client,
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
    ):
        client.login(dovecot_user.name, dovecot_user.password + "-wrong")


def test_idle_wakes_when_another_client_appends(
    dovecot: DovecotServer, dovecot_user: MailUser, client_ssl_context: ssl.SSLContext
) -> None:
    watcher = imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=client_ssl_context, timeout=10)
    watcher.login(dovecot_user.name, dovecot_user.password)
    watcher.select("INBOX")
    tag = watcher._new_tag()
    watcher.send(tag + b" IDLE\r\n")
    assert watcher.readline().startswith(b"+")
    with imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=client_ssl_context) as writer:
        writer.login(dovecot_user.name, dovecot_user.password)
        assert writer.append("INBOX", None, None, message(9))[0] == "OK"
    watcher.sock.settimeout(0.5)
    deadline = time.monotonic() + 10
    lines: list[bytes] = []
    while not any(line.endswith(b"EXISTS\r\n") for line in lines):
        assert time.monotonic() < deadline, f"no EXISTS while idling; got {lines}"
        try:
            lines.append(watcher.readline())
        except TimeoutError:
            continue
    assert b"* 1 EXISTS\r\n" in lines
    watcher.sock.settimeout(10)
    watcher.send(b"DONE\r\n")
    watcher.logout()


def test_pop3_stls_uidl_retr_byte_exact(
    dovecot: DovecotServer, dovecot_user: MailUser, client_ssl_context: ssl.SSLContext
) -> None:
    seeded = [message(1), message(2), message(3)]
    dovecot.seed(dovecot_user, seeded)
    client = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
    client.stls(context=client_ssl_context)
    client.user(dovecot_user.name)
    client.pass_(dovecot_user.password)
    _, uidls, _ = client.uidl()
    assert len(uidls) == 3 and len({line.split()[1] for line in uidls}) == 3
    for n, raw in enumerate(seeded, start=1):
        _, lines, _ = client.retr(n)
        # poplib strips the CRLFs and un-stuffs leading dots
        assert b"\r\n".join(lines) + b"\r\n" == raw
    client.quit()


def test_pop3s_login(
    dovecot: DovecotServer, dovecot_user: MailUser, client_ssl_context: ssl.SSLContext
) -> None:
    dovecot.seed(dovecot_user, [message(1)])
    client = poplib.POP3_SSL(dovecot.host, dovecot.pop3s_port, context=client_ssl_context, timeout=10)
    client.user(dovecot_user.address)
    client.pass_(dovecot_user.password)
    assert client.stat()[0] == 1
    client.quit()


@pytest.mark.parametrize("listener", ["imap", "imaps", "pop3", "pop3s"])
def test_client_without_the_ca_is_refused(dovecot: DovecotServer, listener: str) -> None:
    system_only = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        if listener == "imap":
            imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10).starttls(ssl_context=system_only)
        elif listener == "imaps":
            imaplib.IMAP4_SSL(dovecot.host, dovecot.imaps_port, ssl_context=system_only, timeout=10)
        elif listener == "pop3":
            poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10).stls(context=system_only)
        else:
            poplib.POP3_SSL(dovecot.host, dovecot.pop3s_port, context=system_only, timeout=10)


def test_users_are_unique_and_passwords_stay_out_of_repr(dovecot: DovecotServer) -> None:
    first, second = dovecot.add_user(), dovecot.add_user()
    assert first.name != second.name
    assert first.password not in repr(first)


def test_seeding_ten_thousand_messages_is_fast_enough_to_use(
    dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    files = dovecot.seed(dovecot_user, (message(n) for n in range(10_000)), folder="Bulk")
    assert len(files) == 10_000
    assert all(isinstance(path, Path) for path in files[:3])
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=30) as client:
        client.login(dovecot_user.name, dovecot_user.password)
        assert client.select("Bulk", readonly=True) == ("OK", [b"10000"])


def test_master_user_opens_a_granted_mailbox(dovecot: DovecotServer, dovecot_user: MailUser) -> None:
    master = dovecot.add_master_user()
    dovecot.grant(dovecot_user, master.name)
    dovecot.seed(dovecot_user, [message(1)])
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10) as client:
        client.login(f"{dovecot_user.name}*{master.name}", master.password)
        assert client.select("INBOX", readonly=True) == ("OK", [b"1"])
