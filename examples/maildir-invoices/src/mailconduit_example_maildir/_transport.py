"""The ``maildir`` send transport: each message sent becomes one file in the account's Maildir."""

from __future__ import annotations

from collections.abc import Sequence

from mailconduit import (
    Account,
    Credentials,
    HeaderInjectionError,
    RecipientResult,
    SendResult,
    TransportError,
)

from ._errors import MaildirError
from ._maildir import deliver, ensure_maildir
from ._settings import MaildirSendSettings

__all__ = ["MaildirSendSession", "MaildirSendTransport", "trace_headers"]

_FORBIDDEN = ("\r", "\n", "\0")


def trace_headers(envelope_from: str, recipients: Sequence[str], data: bytes) -> bytes:
    """``Return-Path:`` and one ``Delivered-To:`` per recipient, with the message's own line ending.

    Raises:
        HeaderInjectionError: an address holds CR, LF or NUL (it would add a header of its own).
    """
    for field, value in [("envelope_from", envelope_from), *(("recipient", r) for r in recipients)]:
        if any(ch in value for ch in _FORBIDDEN):
            raise HeaderInjectionError(field, f"{value!r} contains CR, LF or NUL; nothing was delivered")
    first_line = data.split(b"\n", 1)[0]
    eol = "\r\n" if first_line.endswith(b"\r") else "\n"
    lines = [f"Return-Path: <{envelope_from}>", *(f"Delivered-To: {r}" for r in recipients)]
    return "".join(line + eol for line in lines).encode("utf-8")


class MaildirSendSession:
    """An open Maildir: ``send`` delivers one file per message into ``new/``."""

    def __init__(self, settings: MaildirSendSettings) -> None:
        self._settings = settings
        self._open = True

    def send(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> SendResult:
        """Deliver ``data`` (unchanged, below the trace headers if enabled); every recipient accepts.

        Raises:
            MaildirError: the Maildir cannot be written (temporary for a full disk or quota).
            HeaderInjectionError: an envelope address would inject a header.
        """
        if not self._open:
            raise TransportError("the maildir session is closed; open a new one")
        head = trace_headers(envelope_from, recipients, data) if self._settings.trace_headers else b""
        try:
            written = deliver(self._settings.path, head + data)
        except OSError as exc:
            raise MaildirError("cannot deliver into the Maildir", self._settings.path, exc) from exc
        return SendResult(
            recipients=[RecipientResult(address=r, accepted=True) for r in recipients],
            reply=f"delivered as new/{written.name}",
        )

    def close(self) -> None:
        """Nothing to release; later ``send`` calls fail."""
        self._open = False


class MaildirSendTransport:
    """Send transport ``maildir``: no server, no login; the account's ``send.path`` is the Maildir."""

    def open(self, account: Account, credentials: Credentials | None) -> MaildirSendSession:
        """Check (or create) the Maildir and return a session on it; ``credentials`` are not used.

        Raises:
            MaildirError: the path is not a Maildir and cannot be made one.
        """
        settings = account.send
        if not isinstance(settings, MaildirSendSettings):
            raise TransportError(
                f"account {account.name!r}: the maildir transport needs send.protocol: maildir settings"
            )
        try:
            ensure_maildir(settings.path, create=settings.create)
        except OSError as exc:
            raise MaildirError("cannot use the Maildir", settings.path, exc) from exc
        return MaildirSendSession(settings)
