"""``add_flags``: UID STORE +FLAGS.SILENT of exactly the given UIDs, chunked, against Dovecot."""

from __future__ import annotations

from typing import Any

import pytest

from mailconduit import Credentials, FlaggingMailbox
from mailconduit.testing import DovecotServer, MailUser
from mailconduit_imap import ImapMailbox, ImapTransport

from .conftest import MakeAccount


def synthetic(n: int) -> bytes:
    return f"Subject: message {n}\r\nMessage-ID: <{n}@example.test>\r\n\r\nbody {n}\r\n".encode()


@pytest.fixture
def mailbox(dovecot: DovecotServer, make_account: MakeAccount, user_credentials: Credentials) -> Any:
    opened = ImapTransport().open(make_account(dovecot.imap_port), user_credentials)
    yield opened
    opened.close()


def record(mailbox: ImapMailbox) -> list[bytes]:
    client = mailbox._client
    lines: list[bytes] = []
    original = client.send

    def send(data: Any) -> None:
        lines.append(bytes(data))
        original(data)

    client.send = send  # type: ignore[method-assign]
    return lines


def test_flags_capability_and_protocol(mailbox: ImapMailbox) -> None:
    assert "flags" in mailbox.capabilities()
    assert isinstance(mailbox, FlaggingMailbox)


def test_add_flags_sets_exactly_the_given_uids(
    mailbox: ImapMailbox, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    dovecot.seed(dovecot_user, [synthetic(n) for n in range(1, 1206)])
    refs = mailbox.list_new("INBOX", (), True, None)
    chosen = refs[:1200:2]  # 600 scattered UIDs: more than one chunk
    sent = record(mailbox)
    mailbox.add_flags("INBOX", chosen, ["\\Seen", "\\Flagged", "handled"])
    stores = [line for line in sent if b"UID STORE" in line]
    assert len(stores) == 2 and all(b"+FLAGS.SILENT (\\Seen \\Flagged handled)" in s for s in stores)
    flags = {raw.ref: raw.flags for raw in mailbox.fetch("INBOX", refs)}
    picked = set(chosen)
    for ref in refs:
        if ref in picked:
            assert {"\\Seen", "\\Flagged", "handled"} <= set(flags[ref])
        else:
            assert not ({"\\Seen", "\\Flagged", "handled"} & set(flags[ref]))


def test_add_flags_refuses_a_flag_that_would_break_the_command(
    mailbox: ImapMailbox, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    dovecot.seed(dovecot_user, [synthetic(1)])
    refs = mailbox.list_new("INBOX", (), True, None)
    for bad in ("two words", "x)", "\\Seen\\Deleted", ""):
        with pytest.raises(ValueError, match="not an IMAP flag"):
            mailbox.add_flags("INBOX", refs, [bad])
    assert all("\\Deleted" not in raw.flags for raw in mailbox.fetch("INBOX", refs))
