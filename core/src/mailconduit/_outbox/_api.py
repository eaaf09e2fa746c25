"""The outbox's Python API: ``Outbox`` (queue, send now, run a worker, list, retry) and ``send``/``queue``.

Example::

    with Outbox.open("mailconduit.yaml") as outbox:
        report = outbox.send_now("support", Message(to=[Address("bob@example.org")], text="Hi"))
        outbox.queue("support", later_message, at=datetime(2030, 1, 1, tzinfo=UTC))
        outbox.run(once=True)
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailconduit._message import Message, MessageStatus
from mailconduit._model import Account
from mailconduit._outbox._report import DeliveryReport, OutboxEntry, RunStats, StatsCollector
from mailconduit._types import Direction

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported when an Outbox is made, not with mailconduit
    from mailconduit._config import Config
    from mailconduit._plugins import PluginSet
    from mailconduit._store import Store

__all__ = ["Outbox", "queue", "send"]


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Queue and send mail through the accounts of a config, with the outbox in the store.

    Args:
        store: the open store (``mailconduit._store.open_store`` / ``Outbox.open``).
        config: the loaded configuration (its accounts are used).
        plugins: the loaded plugins (transports and authenticators).
        worker_id: this worker's name in claims (default: host, pid and a random suffix).
        clock: returns the current time, aware (tests inject one).
        sleep: waits that many seconds (tests inject one that advances their clock); default:
            a wait that ``run``'s ``stop`` event interrupts.
        rng: the random source of backoff jitter.
        lease: how long a claim holds without renewal; a crashed worker's claims return to the
            queue after it.
        batch_size: messages a session claims at a time (default 100).
        mark_batch: how many of a session's outcomes may wait to be written while it sends on
            (default 4). Outcomes of all sessions are written together (group commit). This is
            the duplicate window: a worker killed between the server's 250 and the commit that
            marks the message sent sends at most ``mark_batch`` messages per open session again
            after its claims expire, so one kill duplicates at most ``mark_batch * max_sessions``
            messages per account (16 with the defaults and ``max_sessions: 4``). Nothing is lost.
            ``mark_batch=1`` narrows it to one message per session, at some speed.
        poll_interval: how often a long-running ``run`` looks for due messages.
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        plugins: PluginSet,
        *,
        worker_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        lease: timedelta = timedelta(minutes=5),
        batch_size: int = 100,
        mark_batch: int = 4,
        poll_interval: timedelta = timedelta(seconds=5),
    ) -> None:
        if batch_size < 1 or mark_batch < 1:
            raise ValueError("batch_size and mark_batch must be at least 1")
        if lease <= timedelta(0):
            raise ValueError(f"lease must be a positive duration, got {lease}")
        from mailconduit._auth_context import StoreAuthContext
        from mailconduit._outbox._worker import Worker, WorkerSettings

        self.store = store
        self.config = config
        self.plugins = plugins
        plugins.attach_auth_context(StoreAuthContext.for_config(store, config))  # token caches (entra_oauth)
        self.worker_id = worker_id or _default_worker_id()
        self._clock = clock or _utcnow
        self._owns_store = False
        self._worker = Worker(
            store,
            dict(config.accounts),
            plugins,
            worker_id=self.worker_id,
            clock=self._clock,
            sleep=sleep,
            rng=rng or random.Random(),
            settings=WorkerSettings(
                lease=lease, batch_size=batch_size, mark_batch=mark_batch, poll_interval=poll_interval
            ),
        )

    def __repr__(self) -> str:
        return f"Outbox(store={self.store.url!r}, worker_id={self.worker_id!r})"

    @classmethod
    def open(cls, config_path: str | Path, *, db_url: str | None = None, **options: Any) -> Outbox:
        """Load plugins and the config at ``config_path``, open its store, and return an Outbox that owns it.

        Args:
            config_path: the YAML config.
            db_url: a store URL overriding the config's ``database:``.
            options: the keyword arguments of :class:`Outbox`.
        """
        from mailconduit._config import load_config, local_plugin_modules
        from mailconduit._plugins import load_plugins
        from mailconduit._store import open_store

        path = Path(config_path)
        plugins = load_plugins(local=local_plugin_modules(path))
        config = load_config(path, plugins, db_url=db_url)
        store = open_store(config.database)
        outbox = cls(store, config, plugins, **options)
        outbox._owns_store = True
        return outbox

    def close(self) -> None:
        """Close the store if this Outbox opened it."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _account(self, name: str) -> Account:
        account = self.config.account(name)
        if account.send is None:
            from mailconduit._errors import ConfigError

            raise ConfigError([(f"accounts.{name}.send", "is missing; this account cannot send mail")])
        return account

    def queue(self, account: str, message: Message, *, at: datetime | None = None) -> int:
        """Compose ``message`` for ``account`` and queue it, due at ``at`` (aware) or now; return its id.

        Message-ID, Date, From and the envelope are fixed now, so every attempt sends the same bytes.

        Raises:
            LookupError: no such account.
            ConfigError: the account has no ``send:`` section.
            MessageError: the message cannot be composed (the error names the field); no recipients.
            ValueError: ``at`` is a naive datetime.
        """
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise ValueError(f"at={at.isoformat()} is naive; give an aware datetime (UTC, say)")
        from mailconduit._outbox import _repo
        from mailconduit._outbox._compose_for_send import prepare

        acct = self._account(account)
        now = self._clock()
        transforms = self.plugins.hooks.message_transforms(acct, direction=Direction.OUTGOING)
        prepared = prepare(acct, message, now=now, transforms=transforms)
        from mailconduit._outbox._wake import queued

        with self.store.session() as session:
            message_id = _repo.enqueue(session, acct.name, prepared, at=at, now=now)
        queued()
        return message_id

    def send_now(self, account: str, message: Message) -> DeliveryReport:
        """Queue ``message`` and make its first attempt now, under the same retry rules as queued mail.

        A temporary failure with attempts left leaves it queued with its next attempt time (the
        report's ``status`` is ``queued``); a permanent one, or the last attempt, fails it.

        Raises:
            LookupError, ConfigError, MessageError: as :meth:`queue`.
        """
        from mailconduit._outbox import _repo
        from mailconduit._outbox._claim import claim

        message_id = self.queue(account, message)
        acct = self._account(account)
        stats = StatsCollector()
        group = claim(
            self.store,
            worker_id=self.worker_id,
            now=self._clock(),
            lease=self._worker.settings.lease,
            limit=1,
            ids=[message_id],
        )
        outcome = None
        if group:
            from mailconduit._outbox._attempt import SessionSlot

            slot = SessionSlot(acct, self.plugins)
            try:
                done = self._worker.send_group(slot, group, threading.Event(), stats)
            finally:
                slot.drop()
            outcome = done[0][1] if done else None
        with self.store.session(readonly=True) as session:
            entry = _repo.entry(session, message_id)
        assert entry is not None
        return DeliveryReport(
            id=entry.id,
            message_id=entry.message_id,
            status=entry.status,
            attempts=entry.attempts,
            code=outcome.code if outcome else None,
            reply=outcome.reply if outcome else (entry.last_error or ""),
            refused=dict(entry.refused),
            next_attempt_at=entry.next_attempt_at if entry.status == MessageStatus.QUEUED else None,
            ambiguous=outcome.ambiguous if outcome else False,
        )

    def run(
        self,
        *,
        once: bool = False,
        stop: threading.Event | None = None,
        progress: Callable[[RunStats], None] | None = None,
    ) -> RunStats:
        """Work as an outbox worker: send due messages of every account over reused sessions.

        Args:
            once: send what is due now (including retries that fall due meanwhile) and return;
                otherwise keep polling until ``stop`` is set.
            stop: set it to stop; unattempted claims go back to the queue.
            progress: called with the counts so far after every change (from worker threads).
        """
        stats = StatsCollector(progress)
        self._worker.run(once=once, stop=stop or threading.Event(), stats=stats)
        return stats.snapshot()

    def list(
        self, status: MessageStatus | str | None = None, account: str | None = None, limit: int = 100
    ) -> list[OutboxEntry]:
        """Outgoing messages, newest first, optionally only one status or account."""
        from mailconduit._outbox import _repo

        with self.store.session(readonly=True) as session:
            return _repo.list_outbox(session, status=status, account=account, limit=limit)

    def counts(self) -> dict[str, int]:
        """How many outgoing messages are in each status (``{"queued": 3, "sent": 10}``)."""
        from mailconduit._outbox import _repo

        with self.store.session(readonly=True) as session:
            return _repo.count_by_status(session)

    def retry(self, message_id: int) -> OutboxEntry:
        """Re-queue a failed message, due now, with a fresh count of attempts.

        Raises:
            LookupError: no outgoing message with that id.
            ValueError: the message is not failed.
        """
        from mailconduit._outbox import _repo

        with self.store.session() as session:
            return _repo.requeue_failed(session, message_id, now=self._clock())


def _outbox(outbox: Outbox | str | Path | None) -> tuple[Outbox, bool]:
    if isinstance(outbox, Outbox):
        return outbox, False
    if outbox is None:
        outbox = os.environ.get("MAILCONDUIT_CONFIG") or "mailconduit.yaml"
    return Outbox.open(outbox), True


def send(account: str, message: Message, *, outbox: Outbox | str | Path | None = None) -> DeliveryReport:
    """Send ``message`` through ``account`` now (queued first; temporary failures retried later).

    Args:
        account: the account's name in the config.
        message: the message.
        outbox: an open :class:`Outbox`, or the path of a config to open one from (default:
            ``$MAILCONDUIT_CONFIG``, else ``./mailconduit.yaml``).
    """
    box, owned = _outbox(outbox)
    try:
        return box.send_now(account, message)
    finally:
        if owned:
            box.close()


def queue(
    account: str, message: Message, *, at: datetime | None = None, outbox: Outbox | str | Path | None = None
) -> int:
    """Queue ``message`` for ``account`` (at ``at``, else now); an outbox worker sends it. Returns its id.

    Args:
        account: the account's name in the config.
        message: the message.
        at: when to send it (aware); not before.
        outbox: an open :class:`Outbox`, or the path of a config (as :func:`send`).
    """
    box, owned = _outbox(outbox)
    try:
        return box.queue(account, message, at=at)
    finally:
        if owned:
            box.close()
