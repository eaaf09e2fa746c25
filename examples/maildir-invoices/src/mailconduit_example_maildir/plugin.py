"""Hook implementations of the example plugin: the ``maildir`` transports and the ``file_invoices`` step.

mailconduit imports this module through the entry point in pyproject.toml and calls each
``register_*`` hook once per plugin load. Hooks only register; the classes they name do the work.
Keep this module light: it is imported on every ``mailconduit`` command.
"""

from __future__ import annotations

from mailconduit import RegisterAction, RegisterTransport, hookimpl

from ._invoices import FileInvoices, FileInvoicesSettings
from ._mailbox import MaildirReceiveTransport
from ._settings import MaildirReceiveSettings, MaildirSendSettings
from ._transport import MaildirSendTransport


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register ``maildir`` twice: the settings class decides the direction (send or receive)."""
    register("maildir", MaildirSendTransport, settings=MaildirSendSettings)
    register("maildir", MaildirReceiveTransport, settings=MaildirReceiveSettings)


@hookimpl
def register_actions(register: RegisterAction) -> None:
    """Register the ``file_invoices`` pipeline step; its YAML mapping becomes a ``FileInvoicesSettings``."""
    register("file_invoices", FileInvoices, settings=FileInvoicesSettings)
