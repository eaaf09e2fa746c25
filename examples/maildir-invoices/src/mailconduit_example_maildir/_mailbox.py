"""The ``maildir`` receive transport: a Maildir read as a mailbox with one folder, ``INBOX``.

Keys are the files' unique names (without ``:2,FLAGS``), which stay the same when a mail reader
moves a file from ``new/`` to ``cur/``. There is no UIDVALIDITY (as with POP3, the key alone
identifies a message), no other folder, no move and no IDLE; ``delete`` removes exactly the files
asked for. Reading never moves or renames a file, so nothing is marked as seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from mailconduit import (
    Account,
    Credentials,
    FolderInfo,
    FolderState,
    MessageRef,
    RawMail,
    ServerReplyError,
    TransportError,
)

from ._errors import MaildirError
from ._maildir import ensure_maildir, find, key_of, messages
from ._settings import MaildirReceiveSettings

__all__ = ["MaildirMailbox", "MaildirReceiveTransport"]

INBOX = "INBOX"


class MaildirMailbox:
    """A Maildir as a ``Mailbox``: capabilities ``delete`` only."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def capabilities(self) -> frozenset[str]:
        """Only ``delete``: one folder, keys without UIDVALIDITY, no move, no IDLE."""
        return frozenset({"delete"})

    def folders(self) -> list[FolderInfo]:
        """Just ``INBOX``."""
        return [FolderInfo(name=INBOX)]

    def _check(self, folder: str) -> None:
        if folder != INBOX:
            raise ServerReplyError(
                f"maildir {self._path}: no folder {folder!r}; a Maildir mailbox has only INBOX",
                temporary=False,
            )

    def _files(self) -> list[Path]:
        try:
            return messages(self._path)
        except OSError as exc:
            raise MaildirError("cannot read the Maildir", self._path, exc) from exc

    def state(self, folder: str) -> FolderState:
        """How many messages ``new/`` and ``cur/`` hold; no UIDVALIDITY."""
        self._check(folder)
        return FolderState(folder=folder, uidvalidity=None, exists=len(self._files()))

    def list_new(
        self, folder: str, known: Iterable[str], oldest_first: bool, limit: int | None
    ) -> list[MessageRef]:
        """The messages whose key is not in ``known``, in delivery order (or reversed), cut to ``limit``."""
        self._check(folder)
        seen = set(known)
        files = self._files()
        if not oldest_first:
            files.reverse()
        refs = []
        for path in files:
            key = key_of(path.name)
            if key in seen:
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # removed by another reader meanwhile
                continue
            refs.append(MessageRef(key, size))
            if limit is not None and len(refs) >= limit:
                break
        return refs

    def fetch(self, folder: str, refs: Sequence[MessageRef]) -> Iterator[RawMail]:
        """Yield the bytes of each message still there, exactly as stored; nothing is renamed."""
        self._check(folder)
        for ref in refs:
            path = find(self._path, ref.key)
            if path is None:
                continue
            try:
                data = path.read_bytes()
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MaildirError("cannot read a message of the Maildir", self._path, exc) from exc
            yield RawMail(ref=ref, data=data, internal_date=datetime.fromtimestamp(mtime, UTC))

    def delete(self, folder: str, refs: Sequence[MessageRef]) -> None:
        """Remove exactly the files of ``refs`` (one already gone is no error)."""
        self._check(folder)
        for ref in refs:
            path = find(self._path, ref.key)
            if path is not None:
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise MaildirError("cannot delete from the Maildir", self._path, exc) from exc

    def move(self, folder: str, refs: Sequence[MessageRef], target: str) -> None:
        """Not supported: a Maildir mailbox has no other folder to move to."""
        raise ServerReplyError(
            f"maildir {self._path}: cannot move to {target!r}; a Maildir mailbox has only INBOX",
            temporary=False,
        )

    def wait(self, folder: str, timeout: float) -> bool:
        """No IDLE: returns False at once (the runner polls instead)."""
        return False

    def close(self) -> None:
        """Nothing to release."""


class MaildirReceiveTransport:
    """Receive transport ``maildir``: the account's ``receive.path`` is the mailbox; no login."""

    def open(self, account: Account, credentials: Credentials | None) -> MaildirMailbox:
        """Check the Maildir (creating it if ``create`` is set) and return it as a mailbox.

        Raises:
            MaildirError: the path is not a Maildir.
        """
        settings = account.receive
        if not isinstance(settings, MaildirReceiveSettings):
            raise TransportError(
                f"account {account.name!r}: the maildir transport needs receive.protocol: maildir settings"
            )
        try:
            ensure_maildir(settings.path, create=settings.create)
        except OSError as exc:
            raise MaildirError("cannot use the Maildir", settings.path, exc) from exc
        return MaildirMailbox(settings.path)
