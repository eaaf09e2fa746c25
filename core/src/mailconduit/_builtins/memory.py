"""Built-in plugin: the ``memory`` transport, an in-process mail server for tests and demos.

It passes the same contract suites as the real transports, so the outbox, replication and the
runner are tested against it instead of mocks. Servers are named; an account reaches one by naming
it as ``host`` with ``protocol: memory``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from attrs import define, field

from mailconduit._errors import AuthenticationError, ServerReplyError, TransportError
from mailconduit._model import Account, ReceiveSettings, SendSettings
from mailconduit._registering import RegisterTransport
from mailconduit._types import (
    Credentials,
    FolderInfo,
    FolderState,
    MessageRef,
    RawMail,
    RecipientResult,
    SendResult,
)
from mailconduit.hookspecs import hookimpl

__all__ = ["MemoryReceiveSettings", "MemorySendSettings", "MemoryServer", "SentMail"]

_SERVERS: dict[str, MemoryServer] = {}
_SERVERS_LOCK = threading.Lock()


@define(frozen=True, kw_only=True)
class MemorySendSettings(SendSettings):
    """``send: {protocol: memory, host: NAME}``; TLS does not apply."""


@define(frozen=True, kw_only=True)
class MemoryReceiveSettings(ReceiveSettings):
    """``receive: {protocol: memory, host: NAME}``; TLS does not apply."""


@define
class _Folder:
    uidvalidity: int
    next_uid: int = 1
    messages: dict[int, tuple[bytes, frozenset[str]]] = field(factory=dict)


@define(frozen=True, kw_only=True)
class SentMail:
    """One message the memory server accepted: envelope and bytes exactly as sent."""

    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes
    username: str | None


@define(eq=False)
class MemoryServer:
    """An in-process mail server: users with folders (receive side) and a list of sent mail.

    Use it as a context manager so the name is released afterwards::

        with MemoryServer("test-1", users={"alice@example.test": "pw"}) as server:
            server.deliver("alice@example.test", raw_bytes)

    Scripting: ``fail_next_send(code, reply)`` makes the next send fail with that reply;
    ``refuse_recipient(addr, code, reply)`` refuses one recipient; ``supports_idle`` toggles ``wait``.
    """

    name: str
    users: dict[str, str] = field(factory=dict, repr=False)
    supports_idle: bool = True
    sent: list[SentMail] = field(factory=list)
    _mailboxes: dict[str, dict[str, _Folder]] = field(factory=dict)
    _failures: list[tuple[int, str]] = field(factory=list)
    _refused: dict[str, tuple[int, str]] = field(factory=dict)
    _lock: threading.Condition = field(factory=threading.Condition)
    _uidvalidity_seed: int = 1000
    sessions_opened: int = 0

    def __enter__(self) -> MemoryServer:
        with _SERVERS_LOCK:
            if self.name in _SERVERS:
                raise ValueError(f"a memory server named {self.name!r} is already running")
            _SERVERS[self.name] = self
        return self

    def __exit__(self, *exc: object) -> None:
        with _SERVERS_LOCK:
            _SERVERS.pop(self.name, None)

    # ------------------------------------------------------------------ scripting
    def fail_next_send(self, code: int, reply: str) -> None:
        """Make the next send fail with ``code`` and ``reply`` (4xx temporary, 5xx permanent)."""
        with self._lock:
            self._failures.append((code, reply))

    def refuse_recipient(self, address: str, code: int = 550, reply: str = "5.1.1 no such user") -> None:
        """Refuse ``address`` at RCPT time with ``code`` and ``reply``."""
        with self._lock:
            self._refused[address.lower()] = (code, reply)

    def folder(self, user: str, folder: str = "INBOX", *, create: bool = True) -> _Folder:
        """The folder ``folder`` of ``user``'s mailbox (created on first use)."""
        with self._lock:
            folders = self._mailboxes.setdefault(user.lower(), {})
            if folder not in folders:
                if not create:
                    raise KeyError(folder)
                self._uidvalidity_seed += 1
                folders[folder] = _Folder(uidvalidity=self._uidvalidity_seed)
            return folders[folder]

    def deliver(self, user: str, data: bytes, folder: str = "INBOX", flags: Iterable[str] = ()) -> int:
        """Put a message into ``user``'s ``folder``; returns its UID and wakes waiting mailboxes."""
        box = self.folder(user, folder)
        with self._lock:
            uid = box.next_uid
            box.next_uid += 1
            box.messages[uid] = (bytes(data), frozenset(flags))
            self._lock.notify_all()
            return uid

    def recreate(self, user: str, folder: str = "INBOX") -> None:
        """Delete and re-create ``folder`` with the same messages under a new UIDVALIDITY."""
        with self._lock:
            old = self._mailboxes[user.lower()].pop(folder)
        box = self.folder(user, folder)
        for data, flags in old.messages.values():
            self.deliver(user, data, folder, flags)
        del box

    def messages(self, user: str, folder: str = "INBOX") -> dict[int, bytes]:
        """UID -> bytes of what ``user``'s ``folder`` holds now."""
        with self._lock:
            return {uid: data for uid, (data, _f) in self.folder(user, folder).messages.items()}

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, frozenset[str]]:
        """UID -> flags of what ``user``'s ``folder`` holds now."""
        with self._lock:
            return {uid: flags for uid, (_d, flags) in self.folder(user, folder).messages.items()}

    # ------------------------------------------------------------------ used by sessions
    def _login(self, credentials: Credentials | None) -> str | None:
        if not self.users:
            return credentials.mailbox_user if credentials else None
        if credentials is None:
            raise AuthenticationError(f"memory server {self.name!r}: login required")
        expected = self.users.get(credentials.username)
        if expected is None or expected != credentials.secret.reveal():
            raise AuthenticationError(
                f"memory server {self.name!r}: authentication failed for {credentials.username!r}"
            )
        self.sessions_opened += 1
        return credentials.mailbox_user

    def _accept(
        self, envelope_from: str, recipients: Sequence[str], data: bytes, user: str | None
    ) -> SendResult:
        with self._lock:
            if self._failures:
                code, reply = self._failures.pop(0)
                raise ServerReplyError(
                    f"memory server {self.name!r} refused the message: {code} {reply}",
                    code=code,
                    reply=reply,
                    temporary=400 <= code < 500,
                )
            results = []
            for rcpt in recipients:
                refused = self._refused.get(rcpt.lower())
                if refused:
                    results.append(
                        RecipientResult(address=rcpt, accepted=False, code=refused[0], reply=refused[1])
                    )
                else:
                    results.append(RecipientResult(address=rcpt, accepted=True, code=250, reply="2.1.5 Ok"))
            accepted = tuple(r.address for r in results if r.accepted)
            if not accepted:
                raise ServerReplyError(
                    f"memory server {self.name!r} refused every recipient",
                    code=results[0].code,
                    reply=results[0].reply,
                    temporary=False,
                )
            self.sent.append(
                SentMail(envelope_from=envelope_from, recipients=accepted, data=bytes(data), username=user)
            )
            return SendResult(recipients=results, reply=f"250 2.0.0 queued as {len(self.sent)}")


def _server(host: str) -> MemoryServer:
    with _SERVERS_LOCK:
        server = _SERVERS.get(host)
    if server is None:
        raise TransportError(f"no memory server named {host!r} is running (start a MemoryServer)")
    return server


class MemorySendSession:
    """A send session on a ``MemoryServer``."""

    def __init__(self, server: MemoryServer, user: str | None) -> None:
        self._server = server
        self._user = user
        self._open = True

    def send(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> SendResult:
        """Deliver ``data`` to the server's sent list (after scripted failures)."""
        if not self._open:
            raise TransportError("session is closed")
        return self._server._accept(envelope_from, recipients, data, self._user)

    def close(self) -> None:
        """Close the session."""
        self._open = False


class MemorySendTransport:
    """Send transport ``memory``."""

    def open(self, account: Account, credentials: Credentials | None) -> MemorySendSession:
        """Open a session on the server named by the account's ``send.host``."""
        assert account.send is not None
        server = _server(account.send.host)
        return MemorySendSession(server, server._login(credentials))


class MemoryMailbox:
    """A mailbox on a ``MemoryServer``; keys are ``uidvalidity:uid`` like IMAP's."""

    def __init__(self, server: MemoryServer, user: str) -> None:
        self._server = server
        self._user = user

    def capabilities(self) -> frozenset[str]:
        """Everything, with ``idle`` only when the server supports it."""
        base = {"folders", "uidvalidity", "delete", "move", "copy", "flags"}
        return frozenset(base | {"idle"} if self._server.supports_idle else base)

    def folders(self) -> list[FolderInfo]:
        """The user's folders."""
        self._server.folder(self._user)
        with self._server._lock:
            names = sorted(self._server._mailboxes[self._user.lower()])
        return [FolderInfo(name=n, delimiter="/") for n in names]

    def state(self, folder: str) -> FolderState:
        """UIDVALIDITY and size of ``folder``."""
        box = self._box(folder)
        with self._server._lock:
            return FolderState(
                folder=folder, uidvalidity=box.uidvalidity, exists=len(box.messages), uidnext=box.next_uid
            )

    def _box(self, folder: str) -> _Folder:
        try:
            return self._server.folder(self._user, folder, create=folder == "INBOX")
        except KeyError:
            raise ServerReplyError(
                f"folder {folder!r} does not exist", reply="NO Mailbox doesn't exist", temporary=False
            ) from None

    def list_new(
        self, folder: str, known: Iterable[str], oldest_first: bool, limit: int | None
    ) -> list[MessageRef]:
        """Messages whose ``uidvalidity:uid`` key is not in ``known``."""
        box = self._box(folder)
        known_set = set(known)
        with self._server._lock:
            uids = sorted(box.messages, reverse=not oldest_first)
            refs = [MessageRef(f"{box.uidvalidity}:{u}", len(box.messages[u][0])) for u in uids]
        fresh = [r for r in refs if r.key not in known_set]
        return fresh if limit is None else fresh[:limit]

    @staticmethod
    def _uid(box: _Folder, ref: MessageRef) -> int | None:
        """The UID of ``ref`` in ``box``, or None when the ref is from an older UIDVALIDITY (stale)."""
        uidvalidity, _, uid = ref.key.partition(":")
        if uidvalidity != str(box.uidvalidity) or not uid.isdigit():
            return None
        return int(uid)

    def fetch(self, folder: str, refs: Sequence[MessageRef]) -> Iterator[RawMail]:
        """Yield the bytes of ``refs`` that still exist (a stale ref yields nothing)."""
        box = self._box(folder)
        for ref in refs:
            uid = self._uid(box, ref)
            with self._server._lock:
                item = box.messages.get(uid) if uid is not None else None
            if item is not None:
                yield RawMail(ref=ref, data=item[0], flags=item[1], internal_date=datetime.now(UTC))

    def delete(self, folder: str, refs: Sequence[MessageRef]) -> None:
        """Remove exactly ``refs``; a stale ref (older UIDVALIDITY) removes nothing."""
        box = self._box(folder)
        with self._server._lock:
            for ref in refs:
                uid = self._uid(box, ref)
                if uid is not None:
                    box.messages.pop(uid, None)

    def move(self, folder: str, refs: Sequence[MessageRef], target: str) -> None:
        """Move exactly ``refs`` to ``target`` (which must exist)."""
        source = self._box(folder)
        self._box(target) if target == "INBOX" else self._existing(target)
        for ref in refs:
            uid = self._uid(source, ref)
            with self._server._lock:
                item = source.messages.pop(uid, None) if uid is not None else None
            if item is not None:
                self._server.deliver(self._user, item[0], target, item[1])

    def add_flags(self, folder: str, refs: Sequence[MessageRef], flags: Sequence[str]) -> None:
        r"""Add ``flags`` (``\Seen``, keywords) to exactly ``refs``; a stale ref changes nothing."""
        box = self._box(folder)
        with self._server._lock:
            for ref in refs:
                uid = self._uid(box, ref)
                item = box.messages.get(uid) if uid is not None else None
                if uid is not None and item is not None:
                    box.messages[uid] = (item[0], item[1] | frozenset(flags))

    def _existing(self, folder: str) -> _Folder:
        try:
            return self._server.folder(self._user, folder, create=False)
        except KeyError:
            raise ServerReplyError(
                f"folder {folder!r} does not exist", reply="NO Mailbox doesn't exist", temporary=False
            ) from None

    def wait(self, folder: str, timeout: float) -> bool:
        """Wait for a delivery to ``folder`` (like IDLE) up to ``timeout`` seconds."""
        if not self._server.supports_idle:
            return False
        box = self._box(folder)
        with self._server._lock:
            before = box.next_uid
            return self._server._lock.wait_for(lambda: box.next_uid != before, timeout=timeout)

    def close(self) -> None:
        """Nothing to release."""


class MemoryReceiveTransport:
    """Receive transport ``memory``."""

    def open(self, account: Account, credentials: Credentials | None) -> MemoryMailbox:
        """Open the mailbox of the account (or its shared mailbox) on the server named by ``receive.host``."""
        assert account.receive is not None
        server = _server(account.receive.host)
        user = server._login(credentials) or account.mailbox
        return MemoryMailbox(server, user)


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    """Register ``memory`` for sending and receiving."""
    register("memory", MemorySendTransport, settings=MemorySendSettings)
    register("memory", MemoryReceiveTransport, settings=MemoryReceiveSettings)
