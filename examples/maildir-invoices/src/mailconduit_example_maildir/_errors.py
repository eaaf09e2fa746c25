"""The one error of this plugin: a Maildir that cannot be read or written, as a ``TransportError``."""

from __future__ import annotations

from pathlib import Path

from mailconduit import TransportError

from ._maildir import is_temporary

__all__ = ["MaildirError"]


class MaildirError(TransportError):
    """A Maildir could not be read or written; ``temporary`` says whether a retry may succeed.

    The core's outbox retries temporary failures (a full disk) and fails the message at once on
    permanent ones (permission denied, not a directory).
    """

    def __init__(self, what: str, path: Path, error: OSError) -> None:
        self.temporary = is_temporary(error)
        reason = error.strerror or type(error).__name__
        where = error.filename or path
        super().__init__(f"{what} {path}: {reason} ({where}); check the path and its permissions")
