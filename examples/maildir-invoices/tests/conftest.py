"""Fixtures of the example plugin's tests: Maildir accounts in the test's temp dir, invoice messages.

The contract suites and real-server fixtures come from ``mailconduit.testing``. In your own
distribution enable its fixtures in your top-level ``conftest.py`` with
``pytest_plugins = ["mailconduit.testing"]``; in this repository the root conftest does it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailconduit import (
    Account,
    Address,
    Attachment,
    Message,
    StoredMessage,
    compose,
)
from mailconduit_example_maildir import MaildirReceiveSettings, MaildirSendSettings

PDF = b"%PDF-1.4\n% example invoice\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
INVOICE_PDF = Attachment(filename="invoice.pdf", content=PDF, content_type="application/pdf")


def invoice_message(
    *,
    sender: str = "billing@acme.test",
    subject: str = "Invoice 2024-0042",
    attachments: tuple[Attachment, ...] = (INVOICE_PDF,),
    date: datetime = datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
    number: int = 1,
) -> bytes:
    """The RFC 5322 bytes of an invoice mail (composed by the core, as `mailconduit send` would)."""
    return compose(
        Message(
            from_=Address(sender),
            to=(Address("accounts@example.test"),),
            subject=subject,
            text="Please find our invoice attached.",
            attachments=attachments,
            date=date,
            message_id=f"<invoice-{number}@acme.test>",
        )
    )


def stored(raw: bytes, *, number: int = 1, subject: str | None = "Invoice 2024-0042") -> StoredMessage:
    """``raw`` as the store hands it to a pipeline step."""
    return StoredMessage(
        id=number,
        account="accounts",
        folder="INBOX",
        key=f"1:{number}",
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        subject=subject,
        raw=lambda: raw,
    )


class RecordingContext:
    """An ``ActionContext`` that keeps what the action logged and recorded, for the test to read."""

    def __init__(self, account: Account) -> None:
        self._account = account
        self.logs: list[tuple[str, str]] = []
        self.kept: list[tuple[int, dict[str, str]]] = []

    @property
    def account(self) -> Account:
        return self._account

    def log(self, level: str, text: str) -> None:
        self.logs.append((level, text))

    def keep(self, message: StoredMessage, facts: Mapping[str, str]) -> None:
        self.kept.append((message.id, dict(facts)))


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    """Where the test's Maildir goes (created by the transport)."""
    return tmp_path / "Maildir"


@pytest.fixture
def send_account(maildir: Path) -> Account:
    """An account whose ``send:`` delivers into ``maildir``."""
    return Account(
        name="local",
        email="sender@example.test",
        send=MaildirSendSettings(protocol="maildir", path=maildir),
    )


@pytest.fixture
def receive_account(maildir: Path) -> Account:
    """An account whose ``receive:`` reads ``maildir`` (created if missing)."""
    return Account(
        name="local",
        email="sender@example.test",
        receive=MaildirReceiveSettings(protocol="maildir", path=maildir, create=True),
    )


@pytest.fixture
def context(send_account: Account) -> RecordingContext:
    """A context that records the action's log lines and facts."""
    return RecordingContext(send_account)
