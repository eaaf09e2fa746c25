r"""``ImapMailbox``: the ``Mailbox`` protocol over one logged-in :class:`GuardedIMAP4` connection.

Keys are ``"<uidvalidity>:<uid>"``. Refs whose UIDVALIDITY is not the folder's current one are
ignored by ``fetch``, ``delete`` and ``move`` (those UIDs now name other messages). Fetching uses
``BODY.PEEK[]`` in commands of at most 500 UIDs, two commands in flight, and yields each message as
its literal arrives; each command's reply has its own deadline (``CommandDeadline``, B3). Deleting is
``UID STORE +FLAGS.SILENT (\\Deleted)`` then ``UID EXPUNGE`` of exactly those UIDs, never a bare
EXPUNGE (A6: a message another client flagged survives).
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NoReturn

from mailconduit import (
    FolderInfo,
    FolderState,
    MailconduitError,
    MessageRef,
    RawMail,
    ServerReplyError,
    TransportError,
)
from mailconduit_imap import _uidset
from mailconduit_imap._args import quote_mailbox
from mailconduit_imap._client import GuardedIMAP4
from mailconduit_imap._errmap import Where, reply_error, translate
from mailconduit_imap._fetch import FetchCollector
from mailconduit_imap._folders import parse_list

__all__ = ["ImapMailbox"]

PIPELINE_DEPTH = 2
_ESEARCH_ALL = re.compile(rb"\bALL ([0-9:,]+)")


class ImapMailbox:
    """An open IMAP session for one account; see the module docstring. Made by ``ImapTransport.open``."""

    def __init__(self, client: GuardedIMAP4, where: Where) -> None:
        """Wrap a connected, logged-in ``client``."""
        self._client = client
        self._where = where
        self._selected: str | None = None
        self._uidvalidity: int | None = None
        self._closed = False
        self._broken = False

    # ------------------------------------------------------------------ helpers
    def _fail(self, exc: BaseException, stage: str) -> NoReturn:
        if isinstance(exc, MailconduitError) and not isinstance(exc, TransportError):
            raise exc  # a refused argument (HeaderInjectionError): nothing was sent
        error = translate(exc, self._where, stage)
        if not isinstance(error, ServerReplyError):
            self._broken = True  # the session's state is unknown: close() only drops the socket
        if error is exc:
            raise error
        raise error from exc

    def _simple(self, stage: str, name: str, *args: str) -> tuple[str, list[bytes]]:
        try:
            typ, dat = self._client._simple_command(name, *args)
        except Exception as exc:
            self._fail(exc, stage)
        return str(typ), list(dat)

    def _ok(self, stage: str, name: str, *args: str) -> None:
        typ, dat = self._simple(stage, name, *args)
        if typ != "OK":
            raise reply_error(self._where, stage, typ, dat[-1] or b"")

    def _number(self, typ: str) -> int | None:
        values: list[Any] = list(self._client.untagged_responses.get(typ) or ()) or [None]
        try:
            return int(values[-1]) if values[-1] is not None else None
        except (TypeError, ValueError):
            raise TransportError(f"{self._where}: malformed {typ} value {values[-1]!r}") from None

    def _select(self, folder: str) -> FolderState:
        quoted = quote_mailbox(folder)
        stage = f"SELECT {folder!r}"
        try:
            typ, dat = self._client.select(quoted)
        except Exception as exc:
            self._selected = None
            self._fail(exc, stage)
        if typ != "OK":
            self._selected = None
            raise reply_error(self._where, stage, typ, dat[-1] or b"")
        exists = self._number("EXISTS") or 0
        uidvalidity = self._number("UIDVALIDITY")
        self._selected, self._uidvalidity = folder, uidvalidity
        return FolderState(
            folder=folder, uidvalidity=uidvalidity, exists=exists, uidnext=self._number("UIDNEXT")
        )

    def _ensure(self, folder: str) -> int:
        if self._selected != folder or self._uidvalidity is None:
            state = self._select(folder)
            if state.uidvalidity is None:
                raise TransportError(
                    f"{self._where}: folder {folder!r}: the server sent no UIDVALIDITY on SELECT"
                )
        assert self._uidvalidity is not None
        return self._uidvalidity

    def _uids(self, folder: str, refs: Iterable[MessageRef]) -> dict[int, MessageRef]:
        """The refs of the folder's current UIDVALIDITY, by UID."""
        uidvalidity = self._ensure(folder)
        out: dict[int, MessageRef] = {}
        for ref in refs:
            valid, _, uid = ref.key.partition(":")
            if valid == str(uidvalidity) and uid.isdigit() and int(uid) > 0:
                out[int(uid)] = ref
        return out

    def _has(self, capability: str) -> bool:
        return capability in self._client.capabilities

    # ------------------------------------------------------------------ Mailbox
    def capabilities(self) -> frozenset[str]:
        """``folders``, ``uidvalidity``, ``copy``, ``flags``; delete/move/idle if UIDPLUS/MOVE/IDLE."""
        names = {"folders", "uidvalidity", "copy", "flags"}
        names |= {
            name
            for name, cap in (("delete", "UIDPLUS"), ("move", "MOVE"), ("idle", "IDLE"))
            if self._has(cap)
        }
        return frozenset(names)

    def folders(self) -> list[FolderInfo]:
        """``LIST "" "*"`` (with special-use flags where the server has them), names decoded."""
        args = ['""', '"*"']
        if self._has("SPECIAL-USE") and self._has("LIST-EXTENDED"):
            args += ["RETURN", "(SPECIAL-USE)"]
        typ, dat = self._simple("LIST", "LIST", *args)
        if typ != "OK":
            raise reply_error(self._where, "LIST", typ, dat[-1] or b"")
        return parse_list(self._client.untagged_responses.pop("LIST", []), self._where)

    def state(self, folder: str) -> FolderState:
        """SELECT ``folder`` afresh and report UIDVALIDITY, EXISTS and UIDNEXT."""
        return self._select(folder)

    def list_new(
        self, folder: str, known: Iterable[str], oldest_first: bool, limit: int | None
    ) -> list[MessageRef]:
        """UID SEARCH ALL (ESEARCH where offered) minus ``known``, ordered by UID, cut to ``limit``."""
        uidvalidity = self._select(folder).uidvalidity
        self._client.untagged_responses.pop("SEARCH", None)
        self._client.untagged_responses.pop("ESEARCH", None)
        if self._has("ESEARCH"):
            self._ok(f"UID SEARCH in {folder!r}", "UID", "SEARCH", "RETURN", "(ALL)", "ALL")
            uids: list[int] = []
            for line in self._client.untagged_responses.pop("ESEARCH", []):
                found = _ESEARCH_ALL.search(line if isinstance(line, bytes) else b"")
                if found:
                    uids.extend(self._parse_set(found.group(1)))
        else:
            self._ok(f"UID SEARCH in {folder!r}", "UID", "SEARCH", "ALL")
            words = b" ".join(
                w for w in self._client.untagged_responses.pop("SEARCH", []) if isinstance(w, bytes)
            )
            if not all(w.isdigit() for w in words.split()):
                raise TransportError(f"{self._where}: malformed SEARCH reply for {folder!r}")
            uids = [int(w) for w in words.split()]
        known_set = set(known)
        keys = sorted(
            {uid for uid in uids if f"{uidvalidity}:{uid}" not in known_set}, reverse=not oldest_first
        )
        if limit is not None:
            keys = keys[:limit]
        return [MessageRef(f"{uidvalidity}:{uid}") for uid in keys]

    def _parse_set(self, text: bytes) -> list[int]:
        try:
            return _uidset.parse(text.decode("ascii"))
        except ValueError as exc:
            raise TransportError(f"{self._where}: malformed ESEARCH reply: {exc}") from None

    def fetch(self, folder: str, refs: Sequence[MessageRef]) -> Iterator[RawMail]:
        """Stream ``UID FETCH <set> (UID FLAGS INTERNALDATE BODY.PEEK[])`` results, 500 UIDs a command."""
        wanted = self._uids(folder, refs)
        batches = deque(_uidset.chunks(wanted))
        return self._stream(folder, wanted, batches)

    def _stream(
        self, folder: str, wanted: dict[int, MessageRef], batches: deque[tuple[str, list[int]]]
    ) -> Iterator[RawMail]:
        client = self._client
        collector = FetchCollector(self._where, folder)
        in_flight: deque[bytes] = deque()
        stage = f"UID FETCH in {folder!r}"

        def send_next() -> None:
            text, uids = batches.popleft()
            collector.wanted.update((uid, wanted[uid]) for uid in uids)
            client.extra_budget = 4 * len(collector.wanted)
            in_flight.append(client._command("UID", "FETCH", text, "(UID FLAGS INTERNALDATE BODY.PEEK[])"))

        client.fetch_sink = collector
        try:
            while batches and len(in_flight) < PIPELINE_DEPTH:
                send_next()
            while in_flight:
                tag = in_flight[0]
                while client.tagged_commands.get(tag) is None:
                    client._get_response()
                    client._check_bye()
                    while collector.ready:
                        yield collector.ready.popleft()
                typ, dat = client._get_tagged_response(tag)
                in_flight.popleft()
                client.clock.start("UID FETCH")  # the next command's reply gets a deadline of its own
                if typ != "OK":
                    raise reply_error(self._where, stage, typ, dat[-1] or b"")
                client._check_bye()
                if batches:
                    send_next()
        except GeneratorExit:
            raise
        except Exception as exc:
            self._selected = None
            self._fail(exc, stage)
        finally:
            client.fetch_sink = None
            client.extra_budget = 0

    def _store_and_expunge(self, folder: str, text: str) -> None:
        self._ok(f"UID STORE \\Deleted in {folder!r}", "UID", "STORE", text, "+FLAGS.SILENT", "(\\Deleted)")
        self._ok(f"UID EXPUNGE in {folder!r}", "UID", "EXPUNGE", text)

    def _refuse_without_uidplus(self, what: str) -> None:
        if not self._has("UIDPLUS"):
            error = TransportError(
                f"{self._where}: {what} needs UID EXPUNGE (UIDPLUS), which the server does not offer; a "
                "plain EXPUNGE would also remove messages other clients marked deleted, so it is refused. "
                "Use after_replication: none, or a server with UIDPLUS"
            )
            error.temporary = False
            raise error

    def delete(self, folder: str, refs: Sequence[MessageRef]) -> None:
        r"""Flag exactly ``refs`` ``\\Deleted`` and UID EXPUNGE exactly them; refused without UIDPLUS."""
        self._refuse_without_uidplus("delete")
        for text, _ in _uidset.chunks(self._uids(folder, refs)):
            self._store_and_expunge(folder, text)

    def move(self, folder: str, refs: Sequence[MessageRef], target: str) -> None:
        """UID MOVE exactly ``refs`` to ``target`` (which must exist), else UID COPY + flag + UID EXPUNGE."""
        quoted = quote_mailbox(target)
        if not self._has("MOVE"):
            self._refuse_without_uidplus(f"move to {target!r} without MOVE")
        for text, _ in _uidset.chunks(self._uids(folder, refs)):
            if self._has("MOVE"):
                self._ok(f"UID MOVE from {folder!r} to folder {target!r}", "UID", "MOVE", text, quoted)
            else:
                self._ok(f"UID COPY from {folder!r} to folder {target!r}", "UID", "COPY", text, quoted)
                self._store_and_expunge(folder, text)

    def add_flags(self, folder: str, refs: Sequence[MessageRef], flags: Sequence[str]) -> None:
        r"""``UID STORE <set> +FLAGS.SILENT (flags)`` of exactly ``refs``, in chunks like every UID set."""
        if not flags:
            return
        for flag in flags:
            if not flag or any(c in flag for c in ' \r\n\0()]{%*"') or "\\" in flag[1:]:
                raise ValueError(f"flag {flag!r} is not an IMAP flag (\\Seen, \\Flagged or a keyword)")
        listed = "(" + " ".join(flags) + ")"
        for text, _ in _uidset.chunks(self._uids(folder, refs)):
            self._ok(f"UID STORE {listed} in {folder!r}", "UID", "STORE", text, "+FLAGS.SILENT", listed)

    def wait(self, folder: str, timeout: float) -> bool:
        """IDLE on ``folder`` until new mail (True) or ``timeout`` (False); False at once without IDLE."""
        if not self._has("IDLE"):
            return False
        self._ensure(folder)
        try:
            return self._client.idle_wait(timeout)
        except Exception as exc:
            self._selected = None
            self._fail(exc, f"IDLE on {folder!r}")
        except BaseException:  # interrupted mid-IDLE (Ctrl-C): the session state is unknown, just drop it
            self._broken = True
            raise

    def close(self) -> None:
        """LOGOUT and close the socket; never raises, may be called twice."""
        if self._closed:
            return
        self._closed = True
        if self._broken:
            with contextlib.suppress(Exception):
                self._client.shutdown()
            return
        try:
            self._client.clock.read_timeout = min(self._where.timeout, 5.0)
            self._client.logout()
        except Exception:  # noqa: S110 - close never raises; the connection is gone either way
            pass
        finally:
            with contextlib.suppress(Exception):
                self._client.shutdown()
