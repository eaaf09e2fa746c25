"""mailconduit-smtp: the ``smtp`` send transport for mailconduit (plain, STARTTLS, implicit TLS).

Installed, it registers itself through the ``mailconduit.plugins`` entry point; accounts use it with
``send: {protocol: smtp, host: ..., tls: starttls}``. The names here are for applications and tests
that want a session directly::

    session = SmtpTransport().open(account, credentials)
    try:
        result = session.send("me@example.org", ["you@example.org"], message_bytes)
    finally:
        session.close()

``smtplib`` is imported only when a connection is opened, so loading the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailconduit_smtp._probe import PROBLEMS, probe
from mailconduit_smtp._settings import DEFAULT_PORTS, SmtpSettings
from mailconduit_smtp._transport import SmtpTransport

if TYPE_CHECKING:
    from mailconduit_smtp._session import SmtpSession

__all__ = ["DEFAULT_PORTS", "PROBLEMS", "SmtpSession", "SmtpSettings", "SmtpTransport", "probe"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "SmtpSession":  # imports smtplib; only on use
        from mailconduit_smtp._session import SmtpSession

        return SmtpSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
