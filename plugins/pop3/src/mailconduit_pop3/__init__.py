"""mailconduit-pop3: the ``pop3`` receive transport for mailconduit (POP3S, STLS, plain).

Installed, it registers itself through the ``mailconduit.plugins`` entry point; accounts use it with
``receive: {protocol: pop3, host: ..., tls: tls}``. The names here are for applications and tests
that want a mailbox directly::

    mailbox = Pop3Transport().open(account, credentials)
    try:
        refs = mailbox.list_new("INBOX", known_uidls, True, 50)
        for raw in mailbox.fetch("INBOX", refs):
            store(raw.ref.key, raw.data)
        mailbox.delete("INBOX", refs)          # DELE + QUIT: done when it returns
    finally:
        mailbox.close()

Sockets are opened only when a mailbox is, so loading the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailconduit_pop3._settings import DEFAULT_PORTS, Pop3Settings
from mailconduit_pop3._transport import Pop3Transport

if TYPE_CHECKING:
    from mailconduit_pop3._mailbox import Pop3Mailbox

__all__ = ["DEFAULT_PORTS", "Pop3Mailbox", "Pop3Settings", "Pop3Transport"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Pop3Mailbox":
        from mailconduit_pop3._mailbox import Pop3Mailbox

        return Pop3Mailbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
