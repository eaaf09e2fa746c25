"""The example plugin passes the contract suites of ``mailconduit.testing`` for all it provides.

* ``maildir`` send transport: ``SendTransportContract`` (no login, no scripted refusals: a Maildir
  accepts every recipient, so those capability flags are off).
* ``maildir`` receive transport: ``MailboxContract`` over mail put in by the standard library's
  ``mailbox.Maildir`` (an independent writer), INBOX only, no UIDVALIDITY, no move, no IDLE.
* ``file_invoices`` action: ``ActionContract``, including a rejection with a reason.
"""

from __future__ import annotations

import mailbox
from collections.abc import Sequence
from pathlib import Path

import pytest

from mailconduit import (
    Account,
    Action,
    ActionContext,
    Credentials,
    ReceiveTransport,
    SendTransport,
    StoredMessage,
)
from mailconduit.testing import (
    AcceptedMail,
    ActionContract,
    MailboxContract,
    SendTransportContract,
)
from mailconduit_example_maildir import (
    FileInvoices,
    FileInvoicesSettings,
    MaildirReceiveTransport,
    MaildirSendTransport,
)

from .conftest import RecordingContext, invoice_message, stored


def read_delivered(maildir: Path) -> list[AcceptedMail]:
    """What the Maildir holds, oldest first, with the envelope read back from the trace headers.

    The transport puts ``Return-Path: <from>`` and one ``Delivered-To:`` per recipient above the
    message; everything after them must be the message exactly as sent.
    """
    files = sorted([*(maildir / "new").iterdir(), *(maildir / "cur").iterdir()], key=lambda p: p.name)
    out = []
    for path in files:
        data = path.read_bytes()
        envelope_from, recipients = "", []
        while True:
            line, _, rest = data.partition(b"\n")
            text = line.decode("utf-8", "replace").rstrip("\r")
            if text.startswith("Return-Path: <") and not envelope_from and not recipients:
                envelope_from = text.removeprefix("Return-Path: <").removesuffix(">")
            elif text.startswith("Delivered-To: "):
                recipients.append(text.removeprefix("Delivered-To: "))
            else:
                break
            data = rest
        out.append(AcceptedMail(envelope_from=envelope_from, recipients=tuple(recipients), data=data))
    return out


class MaildirSendProbe:
    """The send contract's view of the Maildir: what was delivered. A Maildir refuses nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def received(self) -> Sequence[AcceptedMail]:
        return read_delivered(self.path) if (self.path / "new").is_dir() else []

    def refuse_recipient(self, address: str) -> None:
        raise NotImplementedError("a Maildir accepts every recipient (supports_recipient_refusal = False)")

    def fail_next_message(self, code: int, reply: str) -> None:
        raise NotImplementedError("a Maildir has no replies to script (supports_scripted_failures = False)")


class TestMaildirSendTransport(SendTransportContract):
    requires_auth = False
    supports_recipient_refusal = False
    supports_scripted_failures = False

    @pytest.fixture
    def transport(self) -> SendTransport:
        return MaildirSendTransport()

    @pytest.fixture
    def account(self, send_account: Account) -> Account:
        return send_account

    @pytest.fixture
    def credentials(self) -> Credentials | None:
        return None

    @pytest.fixture
    def send_server(self, maildir: Path) -> MaildirSendProbe:
        return MaildirSendProbe(maildir)


class StdlibMaildirProbe:
    """Puts mail into the Maildir with the standard library's ``mailbox.Maildir``, as a delivery would."""

    def __init__(self, path: Path) -> None:
        self.box = mailbox.Maildir(path, create=True)

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        assert folder == "INBOX", "the maildir transport has only INBOX"
        self.box.add(raw)

    def create_folder(self, folder: str) -> None:
        raise NotImplementedError("the maildir transport has only INBOX (supports_folders = False)")


class TestMaildirMailbox(MailboxContract):
    has_uidvalidity = False
    supports_folders = False
    supports_move = False
    supports_idle = False
    requires_auth = False

    @pytest.fixture
    def transport(self) -> ReceiveTransport:
        return MaildirReceiveTransport()

    @pytest.fixture
    def account(self, receive_account: Account) -> Account:
        return receive_account

    @pytest.fixture
    def credentials(self) -> Credentials | None:
        return None

    @pytest.fixture
    def mail_server(self, maildir: Path) -> StdlibMaildirProbe:
        return StdlibMaildirProbe(maildir)


class TestFileInvoicesAction(ActionContract):
    can_reject = True

    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        return tmp_path / "invoices"

    @pytest.fixture
    def action(self, folder: Path) -> Action:
        return FileInvoices(FileInvoicesSettings(folder=folder))

    @pytest.fixture
    def context(self, send_account: Account) -> ActionContext:
        return RecordingContext(send_account)

    @pytest.fixture
    def message(self) -> StoredMessage:
        return stored(invoice_message())

    @pytest.fixture
    def rejected_message(self, folder: Path) -> StoredMessage:
        """An invoice whose sender folder cannot be made: a regular file is in its place."""
        (folder / "2024-03-01").mkdir(parents=True)
        (folder / "2024-03-01" / "billing@blocked.test").write_text("not a directory")
        return stored(invoice_message(sender="billing@blocked.test"), number=2)
