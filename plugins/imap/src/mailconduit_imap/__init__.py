"""mailconduit-imap: the ``imap`` receive transport for mailconduit (plain, STARTTLS, implicit TLS).

Installed, it registers itself through the ``mailconduit.plugins`` entry point; accounts use it with
``receive: {protocol: imap, host: ..., tls: tls}``. The names here are for applications and tests
that want a mailbox directly::

    mailbox = ImapTransport().open(account, credentials)
    try:
        refs = mailbox.list_new("INBOX", known=(), oldest_first=True, limit=50)
        for raw in mailbox.fetch("INBOX", refs):
            ...
    finally:
        mailbox.close()

``imaplib`` is imported only when a connection is opened, so loading the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailconduit_imap._settings import DEFAULT_PORTS, ImapSettings
from mailconduit_imap._transport import ImapTransport

if TYPE_CHECKING:
    from mailconduit_imap._mailbox import ImapMailbox

__all__ = ["DEFAULT_PORTS", "ImapMailbox", "ImapSettings", "ImapTransport"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "ImapMailbox":  # imports imaplib; only on use
        from mailconduit_imap._mailbox import ImapMailbox

        return ImapMailbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
