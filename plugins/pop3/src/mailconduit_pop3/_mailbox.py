"""``Pop3Mailbox``: the ``Mailbox`` protocol over one POP3 maildrop, keyed by UIDL.

POP3 has one mailbox (``INBOX``) and no UIDVALIDITY: a message's key is its UIDL unique-id, and
message numbers are valid only within one session, so the UIDL -> number map is rebuilt whenever a
new session starts. A POP3 session sees the maildrop as it was when it began (mail delivered later
stays invisible until the next login), so :meth:`Pop3Mailbox.state` and :meth:`Pop3Mailbox.list_new`
start a new session (QUIT, log in again) when the current one has already been looked at.

Without UIDL nothing can be keyed safely: listing raises and ``capabilities()`` leaves out ``delete``.

Deleting: POP3 removes messages only when the session ends with QUIT (RFC 1939 section 6, the
UPDATE state); a connection lost between DELE and QUIT deletes nothing. So :meth:`Pop3Mailbox.delete`
sends DELE for exactly the given messages and then QUIT, and returns only when the server confirmed
QUIT: when it returns the deletions are done, when it raises none of them may have happened and the
caller retries later (a ref no longer on the server is skipped). The next call opens a new session.
Any failure during the DELEs drops the connection without QUIT, so a partial batch is never
committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress

from mailconduit import (
    Account,
    ConfigError,
    FolderInfo,
    FolderState,
    MessageRef,
    ProtocolError,
    RawMail,
    ServerReplyError,
    TransportError,
)
from mailconduit_pop3._client import PIPELINE_DEPTH, Pop3Client
from mailconduit_pop3._commands import command_line
from mailconduit_pop3._errmap import Where
from mailconduit_pop3._listing import parse_list, parse_stat, parse_uidl

__all__ = ["INBOX", "Pop3Mailbox"]

INBOX = "INBOX"
_MAX_LISTING = 5_000_000


class Pop3Mailbox:
    """An open, logged-in POP3 session (reopened as needed); see the module docstring."""

    def __init__(self, account: Account, where: Where, opener: Callable[[], Pop3Client]) -> None:
        """Open the first session with ``opener`` (connect, secure, log in)."""
        assert account.receive is not None
        self._account = account
        self._where = where
        self._opener = opener
        self._limit = account.receive.max_message_size
        self._client: Pop3Client | None = opener()
        self._numbers: dict[str, int] | None = None
        self._sizes: dict[str, int] = {}
        self._uidl: bool | None = None
        self._closed = False
        self._used = False

    # ------------------------------------------------------------------ sessions
    def _session(self) -> Pop3Client:
        if self._closed:
            raise TransportError(f"{self._where}: the mailbox was closed; open it again")
        if self._client is None or self._client.sock is None:
            self._client = None
            self._numbers = None
            self._client = self._opener()
            self._used = False
        return self._client

    def _fresh(self) -> Pop3Client:
        """A session that began after the last listing: quit the current one if it was looked at."""
        client = self._client
        if client is not None and client.sock is not None and self._used:
            self._client = self._numbers = None
            with suppress(TransportError):
                client.quit()  # nothing is pending: DELEs are only ever sent (and quit) by delete()
        client = self._session()
        self._used = True
        return client

    def _check_folder(self, folder: str) -> None:
        if folder.upper() != INBOX:
            raise ConfigError(
                [
                    (
                        f"accounts.{self._account.name}.receive.folder",
                        f"POP3 has no folders, so {folder!r} cannot be read; leave `folder` unset",
                    )
                ]
            )

    def _pipelining(self, client: Pop3Client) -> int:
        return PIPELINE_DEPTH if "PIPELINING" in (client.capabilities or {}) else 1

    def _stat(self, client: Pop3Client) -> int:
        reply = client.command("STAT", b"STAT\r\n")
        with client.guard("STAT"):
            count, _size = parse_stat(reply[3:].strip())
        return count

    def _has_uidl(self, client: Pop3Client) -> bool:
        if self._uidl is None:
            caps = client.capabilities
            if caps is not None:
                self._uidl = "UIDL" in caps
            else:  # no CAPA (RFC 1939-only server): ask
                try:
                    if self._stat(client):
                        client.command("UIDL", b"UIDL 1\r\n")
                    else:
                        client.multiline("UIDL", b"UIDL\r\n", 0)
                    self._uidl = True
                except ServerReplyError:
                    self._uidl = False
        return self._uidl

    def _list(self, client: Pop3Client) -> dict[str, int]:
        """UIDL and LIST of this session; fills the UIDL -> number and size maps."""
        if not self._has_uidl(client):
            raise ServerReplyError(
                f"{self._where}: the server does not support UIDL, so messages cannot be told apart "
                "between sessions and replication would store them again; use IMAP or a server with UIDL",
                reply="UIDL not supported",
                temporary=False,
            )
        count = self._stat(client)
        if count > _MAX_LISTING:
            raise ProtocolError(f"{self._where}: STAT reports {count} messages, more than this client lists")
        uidl_lines = client.multiline("UIDL", b"UIDL\r\n", count)
        list_lines = client.multiline("LIST", b"LIST\r\n", count)
        with client.guard("UIDL"):
            uids = parse_uidl(uidl_lines, count)
        with client.guard("LIST"):
            sizes = parse_list(list_lines, count)
        self._numbers = {uid: number for number, uid in sorted(uids.items())}
        self._sizes = {uid: sizes[number] for number, uid in uids.items() if number in sizes}
        return self._numbers

    def _targets(self, refs: Sequence[MessageRef]) -> tuple[Pop3Client, list[tuple[MessageRef, int]]]:
        client = self._session()
        numbers = self._numbers
        if numbers is None or any(ref.key not in numbers for ref in refs):  # listed in another session
            client = self._fresh()
            numbers = self._list(client)
        return client, [(ref, numbers[ref.key]) for ref in refs if ref.key in numbers]

    # ------------------------------------------------------------------ Mailbox
    def capabilities(self) -> frozenset[str]:
        """``{"delete"}`` when the server has UIDL, else nothing (no folders, move or IDLE in POP3)."""
        return frozenset({"delete"}) if self._has_uidl(self._session()) else frozenset()

    def folders(self) -> list[FolderInfo]:
        """Just ``INBOX``."""
        return [FolderInfo(name=INBOX)]

    def state(self, folder: str) -> FolderState:
        """STAT's message count; ``uidvalidity`` is None (POP3 has none)."""
        self._check_folder(folder)
        return FolderState(folder=folder, uidvalidity=None, exists=self._stat(self._fresh()))

    def list_new(
        self, folder: str, known: Iterable[str], oldest_first: bool, limit: int | None
    ) -> list[MessageRef]:
        """Messages whose UIDL is not in ``known``; oldest = lowest message number first."""
        self._check_folder(folder)
        numbers = self._list(self._fresh())
        known_set = set(known)
        refs = [MessageRef(uid, self._sizes.get(uid)) for uid in numbers if uid not in known_set]
        if not oldest_first:
            refs.reverse()
        return refs if limit is None else refs[:limit]

    def fetch(self, folder: str, refs: Sequence[MessageRef]) -> Iterator[RawMail]:
        """RETR each ref still on the server (pipelined when offered), bytes exactly as stored.

        Raises:
            ProtocolError: a message (by LIST or by what arrives) is over ``receive.max_message_size``,
                or a reply is malformed.
        """
        self._check_folder(folder)
        client, targets = self._targets(refs)
        for ref, number in targets:
            size = self._sizes.get(ref.key, 0)
            if size > self._limit:
                raise ProtocolError(
                    f"{self._where}: message {number} (UIDL {ref.key!r}) is {size} bytes, over "
                    f"receive.max_message_size ({self._limit}); raise the limit or remove the message"
                )
        pending = iter(targets)

        def read() -> bytes:
            ref, number = next(pending)
            client.status(f"RETR {number} (UIDL {ref.key!r})")
            return client.reader.body(self._limit)

        lines = [command_line("RETR", number) for _ref, number in targets]
        replies = client.pipeline("RETR", lines, read, self._pipelining(client))
        for (ref, _number), data in zip(targets, replies, strict=True):
            yield RawMail(ref=ref, data=data)

    def delete(self, folder: str, refs: Sequence[MessageRef]) -> None:
        """DELE exactly ``refs`` and commit with QUIT; refs no longer on the server are skipped.

        Raises:
            ServerReplyError: the server has no UIDL (nothing can be deleted safely) or refused a DELE;
                nothing was deleted.
            TransportError: the session failed before QUIT was confirmed; retry later.
        """
        self._check_folder(folder)
        client, targets = self._targets(refs)
        if not targets:
            return
        lines = [command_line("DELE", number) for _ref, number in targets]
        try:
            for _ in client.pipeline("DELE", lines, lambda: client.status("DELE"), self._pipelining(client)):
                pass
        except BaseException:
            client.abort()  # no QUIT: none of the DELEs is committed
            raise
        self._client = self._numbers = None
        try:
            client.quit()
        except TransportError as exc:
            raise TransportError(
                f"{self._where}: QUIT, which commits the deletions, was not confirmed ({exc}); "
                "the messages may still be on the server and are deleted again on the next run"
            ) from exc

    def move(self, folder: str, refs: Sequence[MessageRef], target: str) -> None:
        """Always refused: POP3 has no folders to move to."""
        raise ServerReplyError(
            f"{self._where}: POP3 cannot move messages to {target!r} (it has no folders); "
            "use after_replication: delete or none",
            reply="MOVE not supported",
            temporary=False,
        )

    def wait(self, folder: str, timeout: float) -> bool:
        """False at once: POP3 cannot announce new mail (the core polls instead)."""
        return False

    def close(self) -> None:
        """QUIT and close; never raises, may be called twice."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None and client.sock is not None:
            try:
                client.quit()
            except Exception:
                client.abort()
