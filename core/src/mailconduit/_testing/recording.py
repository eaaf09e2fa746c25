"""``RecordingContext``: an ``ActionContext`` for unit tests of pipeline actions; it records, never sends.

Example::

    from mailconduit.testing import RecordingContext, stored_sample

    def test_my_action() -> None:
        context = RecordingContext(templates={"ack": Template(name="ack", text="Thanks")})
        result = MyAction()(stored_sample(), context)
        assert result.accepted
        assert context.logs == [("info", "filed message 1")]
        assert context.queued[0].message.subject == "Re: contract sample 1"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from attrs import field, frozen

from mailconduit._errors import MessageError
from mailconduit._message import Message, Template
from mailconduit._model import Account
from mailconduit._types import StoredMessage

__all__ = ["QueuedMail", "RecordingContext", "ServerChange"]

LEVELS = ("debug", "info", "warning", "error")
_NOT_IN_FLAG = ' \r\n\0()]{%*"'


@frozen(kw_only=True)
class QueuedMail:
    """A message an action queued through ``RecordingContext.queue``.

    Attributes:
        message: the message as given.
        account: the sending account asked for (None: the receiving account).
        at: the send time asked for (None: as soon as possible).
        data: the RFC 5322 bytes it composes to (proof that it can be sent).
    """

    message: Message
    account: str | None
    at: datetime | None
    data: bytes = field(repr=lambda b: f"<{len(b)} bytes>")


@frozen(kw_only=True)
class ServerChange:
    """A server change an action asked for through ``RecordingContext.change_on_server``."""

    message_id: int
    move_to: str | None = None
    add_flags: tuple[str, ...] = ()


class RecordingContext:
    """An ``ActionContext`` test double that records what an action logs, keeps, queues and changes.

    It checks what the real context checks (log levels, flag syntax, aware ``at`` times, that a
    queued message has recipients and composes), so an action that passes with it behaves the same
    in a pipeline.

    Args:
        account: the receiving account (default: ``test`` with ``test@example.test``).
        templates: the templates ``template(name)`` finds.
        pipeline: what ``pipeline`` says.
        config: what ``config`` says.
        accounts: the names ``queue(account=...)`` accepts besides the receiving account's
            (default: any name).

    Attributes:
        logs: ``(level, text)`` in the order logged.
        kept: facts kept, by message id (merged like the store merges them).
        queued: the messages queued, in order.
        changes: the server changes asked for, in order.
    """

    def __init__(
        self,
        *,
        account: Account | None = None,
        templates: Mapping[str, Template] | None = None,
        pipeline: str | None = "test",
        config: Any = None,
        accounts: Sequence[str] | None = None,
    ) -> None:
        self._account = account or Account(name="test", email="test@example.test")
        self._templates = dict(templates or {})
        self._pipeline = pipeline
        self._config = config
        self._accounts = None if accounts is None else {self._account.name, *accounts}
        self.logs: list[tuple[str, str]] = []
        self.kept: dict[int, dict[str, str]] = {}
        self.queued: list[QueuedMail] = []
        self.changes: list[ServerChange] = []

    @property
    def account(self) -> Account:
        """The receiving account."""
        return self._account

    @property
    def pipeline(self) -> str | None:
        """The pipeline name given."""
        return self._pipeline

    @property
    def config(self) -> Any:
        """The configuration given (None by default)."""
        return self._config

    def log(self, level: str, text: str) -> None:
        """Record a log line (the level must be one the real context accepts)."""
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
        self.logs.append((level, str(text)))

    def keep(self, message: StoredMessage, facts: Mapping[str, str]) -> None:
        """Record facts about ``message``."""
        self.kept.setdefault(message.id, {}).update({str(k): str(v) for k, v in facts.items()})

    def queue(self, message: Message, *, account: str | None = None, at: datetime | None = None) -> None:
        """Compose ``message`` (as the outbox would) and record it.

        Raises:
            ValueError: ``at`` is naive; LookupError: ``account`` is not one of ``accounts``;
            MessageError: no recipients, or the message does not compose.
        """
        from mailconduit._mime import compose

        if at is not None and at.utcoffset() is None:
            raise ValueError(f"at={at.isoformat()} is naive; give an aware datetime (UTC, say)")
        if account is not None and self._accounts is not None and account not in self._accounts:
            raise LookupError(f"no account {account!r}; accounts: {', '.join(sorted(self._accounts))}")
        if not message.recipients:
            raise MessageError("the message has no recipients (to, cc or bcc)")
        data = compose(message, message_id_domain=self._account.email.rpartition("@")[2])
        self.queued.append(QueuedMail(message=message, account=account, at=at, data=data))

    def change_on_server(
        self, message: StoredMessage, *, move_to: str | None = None, add_flags: Sequence[str] = ()
    ) -> None:
        """Record a server change, checked as the real context checks it."""
        if move_to is None and not add_flags:
            raise ValueError("change_on_server() needs move_to= or add_flags=")
        for flag in add_flags:
            if not flag or any(c in flag for c in _NOT_IN_FLAG) or "\\" in flag[1:]:
                raise ValueError(f"flag {flag!r} is not an IMAP flag (\\Seen, \\Flagged or a keyword)")
        if move_to is not None and (not move_to or any(c in move_to for c in "\r\n\0")):
            raise ValueError(f"folder {move_to!r} is not a folder name")
        self.changes.append(ServerChange(message_id=message.id, move_to=move_to, add_flags=tuple(add_flags)))

    def template(self, name: str) -> Template:
        """The template ``name`` given at construction.

        Raises:
            LookupError: no such template.
        """
        found = self._templates.get(name)
        if found is None:
            known = ", ".join(sorted(self._templates)) or "none"
            raise LookupError(f"no template {name!r} in the RecordingContext; templates: {known}")
        return found
