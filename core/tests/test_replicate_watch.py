"""``watch``: woken by IDLE (not by the poll interval), polling where IDLE is missing, resync after a drop.

The poll interval is set far longer than the tests' hang guard, so a message stored in time was
stored because ``wait`` woke up. Sleeps are injected and recorded; reconnect delays follow the
account's backoff schedule exactly (same random source).
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailconduit import (
    Account,
    AuthenticationError,
    Backoff,
    PasswordAuth,
    RunResult,
    Secret,
    TransportError,
    hookimpl,
    load_plugins,
)
from mailconduit._builtins.memory import MemoryReceiveTransport
from mailconduit._replicate import watch
from mailconduit._retry import backoff_delay
from mailconduit._store import Store, open_store
from mailconduit._store._models import MessageRow
from mailconduit.testing import MemoryReceiveSettings, MemoryServer

USER = "alice@example.test"
HANG_GUARD = 30.0
BACKOFF = Backoff(initial=timedelta(seconds=2), max=timedelta(minutes=1))
_names = itertools.count()


def mail(n: int) -> bytes:
    return (
        f"From: bob@example.test\r\nSubject: watch {n}\r\nMessage-ID: <w{n}@x.test>\r\n\r\nbody\r\n".encode()
    )


class _Scripted:
    """A memory transport that announces when it waits and can drop the connection during a wait."""

    waiting = threading.Event()
    drops: list[bytes] = []  # one message delivered "while disconnected" per drop
    opened = 0
    error: type[TransportError] = TransportError

    def open(self, account: Account, credentials: Any) -> Any:
        inner = MemoryReceiveTransport().open(account, credentials)
        owner = type(self)
        owner.opened += 1
        server: MemoryServer = inner._server

        class Box:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def wait(self, folder: str, timeout: float) -> bool:
                if owner.drops:
                    server.deliver(USER, owner.drops.pop(0))
                    raise owner.error("memory server: connection dropped during IDLE")
                with server._lock:  # re-entrant: released only inside the inner wait, so no delivery is lost
                    owner.waiting.set()
                    return inner.wait(folder, timeout)

        return Box()


class _Plugin:
    @hookimpl
    def register_transports(self, register: Any) -> None:
        register("scripted", _Scripted, settings=MemoryReceiveSettings)


class _Errors:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def on_run_error(self, error: BaseException, run: Any) -> None:
        self.seen.append(type(error).__name__)


@pytest.fixture
def server() -> Iterator[MemoryServer]:
    _Scripted.waiting = threading.Event()
    _Scripted.drops = []
    _Scripted.opened = 0
    _Scripted.error = TransportError
    with MemoryServer(f"watch-{next(_names)}", users={USER: "pw"}) as srv:
        yield srv


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    yield opened
    opened.close()


def make_account(host: str) -> Account:
    return Account(
        name="alice",
        email=USER,
        auth=PasswordAuth(password=Secret("pw")),
        receive=MemoryReceiveSettings(
            protocol="scripted",
            host=host,
            subscribe=True,
            poll_every=timedelta(hours=1),
            idle_refresh=timedelta(minutes=25),
            reconnect_backoff=BACKOFF,
        ),
    )


def subjects(store: Store) -> list[str | None]:
    with store.session(readonly=True) as session:
        return list(session.scalars(select(MessageRow.subject).order_by(MessageRow.id)))


def stop_when_stored(cancel: threading.Event, wanted: int) -> Any:
    total = [0]

    def on_result(result: RunResult) -> None:
        total[0] += result.stored
        if total[0] >= wanted:
            cancel.set()

    return on_result


def test_a_message_delivered_while_waiting_is_stored_by_idle(server: MemoryServer, store: Store) -> None:
    server.deliver(USER, mail(0))
    errors = _Errors()
    plugins = load_plugins(autoload=False, extra=[("scripted", _Plugin()), ("errors", errors)])
    cancel = threading.Event()
    sleeps: list[float] = []
    results: list[RunResult] = []

    def go() -> None:
        results.append(
            watch(
                make_account(server.name),
                store=store,
                plugins=plugins,
                cancel=cancel,
                on_result=stop_when_stored(cancel, 2),
                sleep=sleeps.append,
            )
        )

    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    assert _Scripted.waiting.wait(HANG_GUARD)
    server.deliver(USER, mail(1))  # blocks until the watcher is inside its wait
    worker.join(HANG_GUARD)
    assert not worker.is_alive(), "watch did not wake up on the delivery"
    assert subjects(store) == ["watch 0", "watch 1"]
    assert sleeps == []  # woken by wait, never by the poll interval
    assert results[0].stored == 2 and results[0].mode == "idle"
    assert errors.seen == []


def test_polling_where_idle_is_missing(server: MemoryServer, store: Store) -> None:
    server.supports_idle = False
    plugins = load_plugins(autoload=False, extra=[("scripted", _Plugin())])
    cancel = threading.Event()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        server.deliver(USER, mail(len(sleeps)))

    result = watch(
        make_account(server.name),
        store=store,
        plugins=plugins,
        cancel=cancel,
        on_result=stop_when_stored(cancel, 2),
        sleep=sleep,
    )
    assert sleeps == [3600.0, 3600.0]
    assert subjects(store) == ["watch 1", "watch 2"]
    assert result.mode == "polling"


def test_reconnects_with_backoff_and_resyncs_what_arrived_meanwhile(
    server: MemoryServer, store: Store
) -> None:
    errors = _Errors()
    plugins = load_plugins(autoload=False, extra=[("scripted", _Plugin()), ("errors", errors)])
    _Scripted.drops = [mail(1), mail(2)]  # two drops in a row, each with a delivery while down
    cancel = threading.Event()
    sleeps: list[float] = []
    result = watch(
        make_account(server.name),
        store=store,
        plugins=plugins,
        cancel=cancel,
        on_result=stop_when_stored(cancel, 2),
        sleep=sleeps.append,
        rng=random.Random(7),
    )
    expected_rng = random.Random(7)
    expected = [backoff_delay(n, BACKOFF, expected_rng).total_seconds() for n in (1, 2)]
    assert sleeps == expected
    assert subjects(store) == ["watch 1", "watch 2"]
    assert _Scripted.opened == 3
    assert errors.seen == ["TransportError", "TransportError"]
    assert result.stored == 2


def test_a_permanent_error_is_raised_not_retried(server: MemoryServer, store: Store) -> None:
    plugins = load_plugins(autoload=False, extra=[("scripted", _Plugin())])
    _Scripted.drops = [mail(1)]
    _Scripted.error = AuthenticationError
    sleeps: list[float] = []
    with pytest.raises(AuthenticationError):
        watch(make_account(server.name), store=store, plugins=plugins, sleep=sleeps.append)
    assert sleeps == [] and _Scripted.opened == 1


@pytest.mark.parametrize(("keepalive", "connections"), [(timedelta(minutes=5), 3), (timedelta(hours=2), 1)])
def test_polling_longer_than_the_keepalive_logs_out_for_each_sleep(
    server: MemoryServer, store: Store, keepalive: timedelta, connections: int
) -> None:
    """A connection left silent past the keepalive could be dropped by the server or a NAT: log out."""
    import attrs

    server.supports_idle = False
    plugins = load_plugins(autoload=False, extra=[("scripted", _Plugin())])
    cancel = threading.Event()
    account = make_account(server.name)
    assert account.receive is not None
    account = attrs.evolve(account, receive=attrs.evolve(account.receive, keepalive=keepalive))

    def sleep(seconds: float) -> None:
        server.deliver(USER, mail(100 + _Scripted.opened))

    watch(
        account,
        store=store,
        plugins=plugins,
        cancel=cancel,
        on_result=stop_when_stored(cancel, 2),
        sleep=sleep,
    )
    assert len(subjects(store)) == 2
    assert _Scripted.opened == connections
