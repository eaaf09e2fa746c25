"""mailconduit-example-maildir: an example plugin distribution for mailconduit.

It provides a ``maildir`` send transport (each sent message becomes a file in a local Maildir), a
``maildir`` receive transport over the same format, and a ``file_invoices`` pipeline action that
files invoice attachments by date and sender. docs/plugins.md walks through it.
"""

from __future__ import annotations

from ._errors import MaildirError
from ._invoices import FileInvoices, FileInvoicesSettings, InvoiceMatch
from ._mailbox import MaildirMailbox, MaildirReceiveTransport
from ._settings import MaildirReceiveSettings, MaildirSendSettings
from ._transport import MaildirSendSession, MaildirSendTransport

__all__ = [
    "FileInvoices",
    "FileInvoicesSettings",
    "InvoiceMatch",
    "MaildirError",
    "MaildirMailbox",
    "MaildirReceiveSettings",
    "MaildirReceiveTransport",
    "MaildirSendSession",
    "MaildirSendSettings",
    "MaildirSendTransport",
]
