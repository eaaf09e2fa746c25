"""What the outbox tells its caller: ``DeliveryReport`` (``send_now``), ``RunStats`` (a run), ``OutboxEntry``.

No store or database imports here: these types are importable without SQLAlchemy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen

from mailconduit._message import MessageStatus

__all__ = ["DeliveryReport", "OutboxEntry", "Outcome", "RunStats", "StatsCollector"]


@frozen(kw_only=True)
class Outcome:
    """The result of one attempt, before it is written to the store.

    Attributes:
        kind: ``sent``, ``retry`` or ``failed``.
        code: the server's reply code, when there was one.
        reply: the server's reply, or what went wrong (never a secret).
        refused: recipients the server refused, with its reply (the others got the message).
        ambiguous: the connection was lost while the message was being sent, so the server may
            have accepted it; it is retried and may arrive twice.
        next_attempt_at: when a retry is due.
        note: why a failure is final (``permanent failure``, ``gave up after 3 of 3 attempts``).
    """

    kind: str
    code: int | None = None
    reply: str = ""
    refused: Mapping[str, str] = field(factory=dict)
    ambiguous: bool = False
    next_attempt_at: datetime | None = None
    note: str = ""


@frozen(kw_only=True)
class DeliveryReport:
    """What became of a message given to ``send_now``.

    Attributes:
        id: the message's id in the store (``outbox list``, ``outbox retry ID``).
        message_id: its Message-ID header.
        status: ``sent``; ``failed`` (permanent failure, or no attempts left); ``queued`` (a
            temporary failure with attempts left: it is retried at ``next_attempt_at``); or
            ``sending`` when a worker took it first.
        attempts: attempts made so far.
        code: the server's reply code to the last attempt, if any.
        reply: the server's reply to the last attempt, or what went wrong.
        refused: recipients the server refused (address -> reply); the others got the message.
        next_attempt_at: when a queued message is retried.
        ambiguous: the connection was lost after the data was sent, so it may have arrived.
    """

    id: int
    message_id: str | None
    status: MessageStatus
    attempts: int
    code: int | None = None
    reply: str = ""
    refused: Mapping[str, str] = field(factory=dict)
    next_attempt_at: datetime | None = None
    ambiguous: bool = False

    @property
    def sent(self) -> bool:
        """True when the server accepted the message (for at least one recipient)."""
        return self.status == MessageStatus.SENT


@frozen(kw_only=True)
class RunStats:
    """Counts of one worker run (also passed to the ``progress`` callback as the run goes).

    Attributes:
        claimed: messages claimed (a message retried within the run counts once per claim).
        sent: messages the server accepted.
        retried: temporary failures put back in the queue with a next attempt time.
        failed: messages failed for good (permanent failure, or no attempts left).
        ambiguous: attempts whose connection was lost after the data was sent.
        reclaimed: messages taken over from a worker whose claim had expired.
        sessions: sessions opened.
        errors: problems that stopped a session thread (the store failing, say); its claims expire.
    """

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    ambiguous: int = 0
    reclaimed: int = 0
    sessions: int = 0
    errors: tuple[str, ...] = ()


class StatsCollector:
    """Thread-safe counters behind ``RunStats``, reporting to a progress callback after each change."""

    def __init__(self, progress: Callable[[RunStats], None] | None = None) -> None:
        """Start at zero; ``progress`` gets a snapshot after every change."""
        self._counts: dict[str, int] = dict.fromkeys(
            ("claimed", "sent", "retried", "failed", "ambiguous", "reclaimed", "sessions"), 0
        )
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self._progress = progress

    def add(self, **counts: int) -> None:
        """Add to the named counters."""
        with self._lock:
            for name, value in counts.items():
                self._counts[name] += value
            snapshot = self._snapshot()
        if self._progress is not None:
            self._progress(snapshot)

    def error(self, text: str) -> None:
        """Record a problem that stopped a session thread."""
        with self._lock:
            self._errors.append(text)

    def _snapshot(self) -> RunStats:
        return RunStats(errors=tuple(self._errors), **self._counts)

    def snapshot(self) -> RunStats:
        """The counts so far."""
        with self._lock:
            return self._snapshot()

    @property
    def claimed(self) -> int:
        """Messages claimed so far."""
        with self._lock:
            return self._counts["claimed"]


@frozen(kw_only=True)
class OutboxEntry:
    """One outgoing message as the outbox sees it, detached from the session.

    Attributes:
        id: the store id (``outbox retry ID`` takes it).
        account: the sending account.
        status: queued, sending, sent or failed.
        message_id: the Message-ID header.
        subject: the subject.
        recipients: the envelope recipients.
        attempts: attempts whose outcome was recorded.
        scheduled_at: the time asked for with ``at=``, if any.
        next_attempt_at: when a queued message is due.
        sent_at: when the server accepted it.
        last_error: the last failure (the server's reply, or what went wrong).
        refused: recipients the server refused, with its reply.
        claimed_by: the worker holding it while ``sending``.
    """

    id: int
    account: str
    status: MessageStatus
    message_id: str | None
    subject: str | None
    recipients: tuple[str, ...]
    attempts: int
    scheduled_at: datetime | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    refused: Mapping[str, str]
    claimed_by: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (ISO times, status as text)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "account": self.account,
            "status": self.status.value,
            "message_id": self.message_id,
            "subject": self.subject,
            "recipients": list(self.recipients),
            "attempts": self.attempts,
            "scheduled_at": iso(self.scheduled_at),
            "next_attempt_at": iso(self.next_attempt_at),
            "sent_at": iso(self.sent_at),
            "last_error": self.last_error,
            "refused": dict(self.refused),
            "claimed_by": self.claimed_by,
        }
