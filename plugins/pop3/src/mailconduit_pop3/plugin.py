"""Hook implementations of the ``pop3`` plugin: it registers the ``pop3`` receive transport."""

from __future__ import annotations

from mailconduit import RegisterTransport, hookimpl
from mailconduit_pop3._settings import Pop3Settings
from mailconduit_pop3._transport import Pop3Transport


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register ``pop3`` (``receive: {protocol: pop3, ...}``) with its settings class."""
    register("pop3", Pop3Transport, settings=Pop3Settings)
