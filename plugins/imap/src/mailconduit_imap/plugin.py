"""Hook implementations of the ``imap`` plugin: it registers the ``imap`` receive transport."""

from __future__ import annotations

from mailconduit import RegisterTransport, hookimpl
from mailconduit_imap._settings import ImapSettings
from mailconduit_imap._transport import ImapTransport


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register ``imap`` (``receive: {protocol: imap, ...}``) with its settings class."""
    register("imap", ImapTransport, settings=ImapSettings)
