"""Against the private Dovecot: byte-exact fetch (corpus messages too), order and limit, batching, PEEK,
stale UIDVALIDITY, A6 (a message another client flagged \\Deleted survives, no bare EXPUNGE), move,
IDLE woken by another client's APPEND, folders with decoded names."""

from __future__ import annotations

import imaplib
import threading
from pathlib import Path
from typing import Any

import pytest

from mailconduit import Credentials, MessageRef, ServerReplyError
from mailconduit.testing import DovecotServer, MailUser
from mailconduit_imap import ImapMailbox, ImapTransport

from .conftest import MakeAccount, credentials_of

CORPUS = Path("/work/shared/corpora/mimekit/messages")


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def corpus_messages() -> list[bytes]:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is missing")
    found = [crlf(p.read_bytes()) for p in sorted(CORPUS.glob("*.txt"))]
    return [m for m in found if b"\r" not in m.replace(b"\r\n", b"")][:12]


def synthetic(n: int, size: int = 300) -> bytes:
    return f"Subject: message {n}\r\nMessage-ID: <{n}@example.test>\r\n\r\n".encode() + b"x" * size + b"\r\n"


@pytest.fixture
def mailbox(dovecot: DovecotServer, make_account: MakeAccount, user_credentials: Credentials) -> Any:
    opened = ImapTransport().open(make_account(dovecot.imap_port), user_credentials)
    yield opened
    opened.close()


def record(mailbox: ImapMailbox) -> list[bytes]:
    """Record every command line the client sends from now on (it keeps sending them)."""
    client = mailbox._client
    lines: list[bytes] = []
    original = client.send

    def send(data: Any) -> None:
        lines.append(bytes(data))
        original(data)

    client.send = send  # type: ignore[method-assign]
    return lines


def other_client(dovecot: DovecotServer, user: MailUser) -> imaplib.IMAP4:
    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10)
    client.login(user.name, user.password)
    return client


def test_fetch_is_byte_exact_for_corpus_messages(
    mailbox: ImapMailbox, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    messages = corpus_messages()
    dovecot.seed(dovecot_user, messages)
    refs = mailbox.list_new("INBOX", (), True, None)
    assert [raw.data for raw in mailbox.fetch("INBOX", refs)] == messages


def test_oldest_latest_limit_and_batches_over_500(
    mailbox: ImapMailbox, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    messages = [synthetic(n) for n in range(1, 1201)]
    dovecot.seed(dovecot_user, messages)
    oldest = mailbox.list_new("INBOX", (), True, None)
    assert len(oldest) == 1200
    uids = [int(r.key.split(":")[1]) for r in oldest]
    assert uids == sorted(uids)
    latest = mailbox.list_new("INBOX", (), False, 10)
    assert latest == list(reversed(oldest))[:10]
    assert mailbox.list_new("INBOX", [r.key for r in oldest[:1195]], True, 3) == oldest[1195:1198]
    sent = record(mailbox)
    fetched = list(mailbox.fetch("INBOX", oldest))
    assert [raw.data for raw in fetched] == messages
    assert [raw.ref for raw in fetched] == oldest
    fetch_lines = [line for line in sent if b"UID FETCH" in line]
    assert len(fetch_lines) == 3 and all(len(line) < 8192 for line in fetch_lines)


def test_fetch_peeks_and_ignores_refs_of_another_uidvalidity(
    mailbox: ImapMailbox, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    dovecot.seed(dovecot_user, [synthetic(1), synthetic(2)])
    refs = mailbox.list_new("INBOX", (), True, None)
    stale = MessageRef(f"{int(refs[0].key.split(':')[0]) - 1}:1")
    assert [raw.ref for raw in mailbox.fetch("INBOX", [stale, *refs])] == refs
    again = list(mailbox.fetch("INBOX", refs))
    assert all("\\Seen" not in raw.flags for raw in again)
    assert all(raw.internal_date is not None for raw in again)


def test_a6_delete_expunges_only_the_given_uids(
    mailbox: ImapMailbox, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    dovecot.seed(dovecot_user, [synthetic(n) for n in range(1, 11)])
    refs = mailbox.list_new("INBOX", (), True, None)
    other = other_client(dovecot, dovecot_user)  # marks 3 messages we are NOT deleting
    other.select("INBOX")
    foreign = [r.key.split(":")[1] for r in refs[5:8]]
    assert other.uid("STORE", ",".join(foreign), "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
    sent = record(mailbox)
    mailbox.delete("INBOX", refs[:5])
    other.logout()
    left = mailbox.list_new("INBOX", (), True, None)
    assert left == refs[5:]  # the foreign \Deleted ones survive
    assert all("\\Deleted" in raw.flags for raw in mailbox.fetch("INBOX", refs[5:8]))
    commands = [line.split(b" ", 1)[1] for line in sent]
    assert [c for c in commands if c.startswith(b"EXPUNGE")] == []
    assert any(c.startswith(b"UID EXPUNGE 1:5") for c in commands)


def test_move_to_a_folder_with_a_non_ascii_name(
    mailbox: ImapMailbox, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    other = other_client(dovecot, dovecot_user)
    assert other.create('"Entw&APw-rfe &- Alt"')[0] == "OK"
    other.logout()
    assert "Entwürfe & Alt" in [f.name for f in mailbox.folders()]
    dovecot.seed(dovecot_user, [synthetic(1), synthetic(2)])
    refs = mailbox.list_new("INBOX", (), True, None)
    mailbox.move("INBOX", refs[:1], "Entwürfe & Alt")
    moved = mailbox.list_new("Entwürfe & Alt", (), True, None)
    assert [raw.data for raw in mailbox.fetch("Entwürfe & Alt", moved)] == [synthetic(1)]
    assert mailbox.list_new("INBOX", (), True, None) == refs[1:]


def test_special_use_folders_are_listed(mailbox: ImapMailbox) -> None:
    uses = {f.name: f.special_use for f in mailbox.folders()}
    assert uses["Sent"] == "\\Sent" and uses["Trash"] == "\\Trash" and uses["INBOX"] is None


def test_idle_wakes_on_another_clients_append(
    mailbox: ImapMailbox, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    mailbox.state("INBOX")
    stop = threading.Event()

    def append_until_woken() -> None:
        other = other_client(dovecot, dovecot_user)
        while not stop.wait(0.2):
            other.append("INBOX", None, None, synthetic(9))
        other.logout()

    thread = threading.Thread(target=append_until_woken, daemon=True)
    thread.start()
    try:
        assert mailbox.wait("INBOX", 30.0) is True
    finally:
        stop.set()
        thread.join()
    assert mailbox.state("INBOX").exists >= 1  # the session is usable after DONE


def test_missing_folder_is_a_server_reply_error_naming_it(mailbox: ImapMailbox) -> None:
    with pytest.raises(ServerReplyError, match="No Such Folder"):
        mailbox.state("No Such Folder")
    assert mailbox.state("INBOX").uidvalidity is not None


def test_shared_mailbox_with_authzid_uses_plain(
    dovecot: DovecotServer, make_account: MakeAccount, dovecot_user: MailUser
) -> None:
    master = dovecot.add_master_user()
    dovecot.grant(dovecot_user, master.name)
    dovecot.seed(dovecot_user, [synthetic(1)])
    credentials = Credentials(
        kind="password", username=master.name, secret=credentials_of(master).secret, authzid=dovecot_user.name
    )
    mailbox = ImapTransport().open(make_account(dovecot.imap_port), credentials)
    try:
        refs = mailbox.list_new("INBOX", (), True, None)
        assert [raw.data for raw in mailbox.fetch("INBOX", refs)] == [synthetic(1)]
    finally:
        mailbox.close()
