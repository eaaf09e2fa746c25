"""Hook implementations of the ``smtp`` plugin: it registers the ``smtp`` send transport."""

from __future__ import annotations

from mailconduit import RegisterTransport, hookimpl
from mailconduit_smtp._settings import SmtpSettings
from mailconduit_smtp._transport import SmtpTransport


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register ``smtp`` (``send: {protocol: smtp, ...}``) with its settings class."""
    register("smtp", SmtpTransport, settings=SmtpSettings)
