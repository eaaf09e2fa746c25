"""Move without MOVE (COPY + STORE + UID EXPUNGE, on a Dovecot that does not announce MOVE), delete and
COPY-move refused without UIDPLUS, and a missing COPY target named in the error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailconduit import Credentials, MessageRef, Secret, ServerReplyError, TlsMode, TransportError
from mailconduit.testing import DovecotServer, MailUser
from mailconduit_imap import ImapTransport

from .conftest import MakeAccount, credentials_of
from .fakeimap import LOGOUT, logged_in

NO_MOVE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT LITERAL+ UNSELECT CHILDREN NAMESPACE "
    "UIDPLUS LIST-EXTENDED ESEARCH SPECIAL-USE"
)


@pytest.fixture(scope="module")
def dovecot_without_move(test_ca: Any) -> Iterator[DovecotServer]:
    with DovecotServer(
        test_ca, extra_conf=f"protocol imap {{\n  imap_capability = {NO_MOVE}\n}}\n"
    ) as server:
        yield server


def test_move_without_move_copies_then_expunges_exactly_those(
    dovecot_without_move: DovecotServer, make_account: MakeAccount
) -> None:
    server = dovecot_without_move
    user: MailUser = server.add_user()
    server.create_folder(user, "Done")
    messages = [f"Subject: {n}\r\n\r\nbody {n}\r\n".encode() for n in range(4)]
    server.seed(user, messages)
    mailbox = ImapTransport().open(make_account(server.imap_port), credentials_of(user))
    try:
        assert "move" not in mailbox.capabilities() and {"copy", "delete"} <= mailbox.capabilities()
        refs = mailbox.list_new("INBOX", (), True, None)
        sent: list[bytes] = []
        original = mailbox._client.send
        mailbox._client.send = lambda data: (sent.append(bytes(data)), original(data))[1]  # type: ignore[method-assign]
        mailbox.move("INBOX", refs[1:3], "Done")
        with pytest.raises(ServerReplyError, match="'Missing'"):
            mailbox.move("INBOX", refs[:1], "Missing")
        assert mailbox.list_new("INBOX", (), True, None) == [refs[0], refs[3]]
        moved = mailbox.list_new("Done", (), True, None)
        assert [raw.data for raw in mailbox.fetch("Done", moved)] == messages[1:3]
        verbs = [b" ".join(line.split()[1:3]) for line in sent]
        assert b"UID MOVE" not in verbs and b"UID COPY" in verbs and b"UID EXPUNGE" in verbs
        assert not any(line.split()[1:2] == [b"EXPUNGE"] for line in sent)
    finally:
        mailbox.close()


def test_delete_and_copy_move_are_refused_without_uidplus(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server([*logged_in(b"IMAP4rev1 IDLE"), *LOGOUT])
    mailbox = ImapTransport().open(
        make_account(server.port, TlsMode.NONE),
        Credentials(kind="password", username="a", secret=Secret("pw")),
    )
    assert "delete" not in mailbox.capabilities() and "move" not in mailbox.capabilities()
    for call in (
        lambda: mailbox.delete("INBOX", [MessageRef("7:1")]),
        lambda: mailbox.move("INBOX", [MessageRef("7:1")], "Archive"),
    ):
        with pytest.raises(TransportError, match="UIDPLUS") as caught:
            call()
        assert caught.value.temporary is False
    mailbox.close()
    server.wait_for_connections(1)
    assert not any(b"EXPUNGE" in line or b"STORE" in line or b"SELECT" in line for line in server.received)
