"""The outbox through the real ``smtp`` plugin to aiosmtpd, and worker processes on SQLite and PostgreSQL.

RELIABILITY.md C1 (4xx and dropped connections at each stage retried, sent once, every attempt
logged), C2 (5xx at each stage fails at once; refused recipients), C3 (a connection dropped after
the final dot is ambiguous; SIGKILL between 250 and mark-sent loses nothing and duplicates within
the documented bound; expired leases return claims), issue 4's two workers on PostgreSQL draining
2,000 messages, the session cap at the server, and K1 with a real AUTH.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from mailconduit import Address, Message, MessageStatus, load_plugins
from mailconduit._config import load_config
from mailconduit._outbox import Outbox
from mailconduit._outbox._worker import DEFAULT_MARK_BATCH
from mailconduit._store import Store, open_store
from mailconduit._store._repo_log import list_log
from mailconduit._store._repo_messages import raw_bytes
from mailconduit.testing import ReceivedMail, SmtpServer, canary, wait_until

PLUGINS = load_plugins()
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.servers


class FakeClock:
    """An injected clock; ``sleep`` advances it."""

    def __init__(self) -> None:
        self.now = START
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(timedelta(seconds=seconds))

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta


def account_config(port: int, **send: Any) -> dict[str, Any]:
    account: dict[str, Any] = {
        "email": "support@example.test",
        "send": {
            "protocol": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "tls": "none",
            "ehlo_name": "client.example.test",
            "timeout": "10s",
            **send,
        },
    }
    if "auth" in send:
        account["auth"] = account["send"].pop("auth")
    return account


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeOutbox = Callable[..., Outbox]


@pytest.fixture
def make_outbox(smtp_server: SmtpServer, store: Store, clock: FakeClock) -> MakeOutbox:
    def make(**send: Any) -> Outbox:
        config = load_config(
            {"accounts": {"support": account_config(smtp_server.plain_port, **send)}}, PLUGINS
        )
        return Outbox(store, config, PLUGINS, clock=clock, sleep=clock.sleep, rng=random.Random(3))

    return make


def msg(n: int = 1, **kwargs: Any) -> Message:
    defaults: dict[str, Any] = {
        "to": [Address("bob@example.org")],
        "subject": f"Message {n}",
        "text": f"Body {n}\n",
    }
    return Message(**{**defaults, **kwargs})


def attempt_lines(store: Store, message_id: int) -> list[str]:
    with store.session(readonly=True) as session:
        entries = list_log(session, account="support", limit=1000)
    return [e.text for e in reversed(entries) if e.message_id == message_id and ": attempt " in e.text]


def accepted(messages: list[ReceivedMail]) -> list[ReceivedMail]:
    """Messages the server answered with 250 (a fault's reply or a dropped connection is not that)."""
    return [m for m in messages if m.reply is not None and m.reply.startswith("250")]


def header_ids(messages: list[ReceivedMail]) -> Counter[str]:
    return Counter(str(message_from_bytes(m.data)["Message-ID"]) for m in messages)


# ---------------------------------------------------------------------- basics
def test_queued_messages_arrive_byte_exact_over_one_session(
    make_outbox: MakeOutbox, smtp_server: SmtpServer, store: Store
) -> None:
    outbox = make_outbox()
    ids = [
        outbox.queue("support", msg(n, subject=f"Grüße {n}", bcc=[Address("hidden@example.org")]))
        for n in range(5)
    ]
    stats = outbox.run(once=True)
    assert stats.sent == 5 and stats.sessions == 1
    received = smtp_server.messages
    assert len(smtp_server.sessions) == 1
    with store.session(readonly=True) as session:
        assert [m.data for m in received] == [raw_bytes(session, i) for i in ids]
    assert all(m.rcpt_tos == ("bob@example.org", "hidden@example.org") for m in received)
    assert all(b"hidden@" not in m.data for m in received)


# ---------------------------------------------------------------------- C1
def test_c1_451_twice_then_250_arrives_on_the_third_attempt(
    make_outbox: MakeOutbox, smtp_server: SmtpServer, store: Store, clock: FakeClock
) -> None:
    outbox = make_outbox(max_attempts=3, backoff={"initial": "30s", "max": "1h"})
    smtp_server.inject("DATA", "451 4.3.0 try again later", times=2)
    mid = outbox.queue("support", msg())
    for expected in (30, 60):
        before = clock()
        assert outbox.run(once=True).retried == 1
        [entry] = outbox.list()
        assert entry.next_attempt_at is not None
        delay = (entry.next_attempt_at - before).total_seconds()
        assert expected * 0.9 <= delay <= expected * 1.1
        clock.advance(timedelta(seconds=delay))
    assert outbox.run(once=True).sent == 1
    assert len(accepted(smtp_server.messages)) == 1
    [entry] = outbox.list()
    assert entry.status == MessageStatus.SENT and entry.attempts == 3
    lines = attempt_lines(store, mid)
    assert len(lines) == 3
    assert "attempt 1 of 3: temporary failure: 451 4.3.0 try again later" in lines[0]
    assert "attempt 2 of 3: temporary failure: 451 4.3.0 try again later" in lines[1]
    assert "attempt 3 of 3: sent: 250 2.0.0 OK queued as mc3" in lines[2]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("EHLO", "421 4.3.2 shutting down"),
        ("MAIL", "421 4.7.0 too many connections"),
        ("MAIL", "450 4.2.0 mailbox busy"),
        ("RCPT", "452 4.5.3 too many recipients"),
        ("RCPT", None),
        ("MAIL", None),
        ("DATA", "432 4.7.12 password transition needed"),
    ],
)
def test_c1_temporary_replies_and_dropped_connections_are_retried(
    make_outbox: MakeOutbox,
    smtp_server: SmtpServer,
    store: Store,
    clock: FakeClock,
    command: Any,
    reply: str | None,
) -> None:
    outbox = make_outbox(max_attempts=2, backoff={"initial": "10s", "max": "1m"})
    smtp_server.inject(command, reply)
    mid = outbox.queue("support", msg())
    stats = outbox.run(once=True)
    assert (stats.retried, stats.sent, stats.failed) == (1, 0, 0)
    clock.advance(timedelta(seconds=12))
    assert outbox.run(once=True).sent == 1
    assert len(accepted(smtp_server.messages)) == 1
    first, second = attempt_lines(store, mid)
    expected = reply.split(" ", 1)[0] if reply else "connection lost"
    assert "temporary failure" in first and expected in first
    assert "sent: 250" in second


# ---------------------------------------------------------------------- C2
@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
@pytest.mark.parametrize("code", [550, 552, 553, 554])
def test_c2_permanent_replies_fail_at_once_with_the_reply(
    make_outbox: MakeOutbox, smtp_server: SmtpServer, store: Store, clock: FakeClock, command: Any, code: int
) -> None:
    outbox = make_outbox(max_attempts=5)
    smtp_server.inject(command, f"{code} 5.7.1 refused by the test")
    mid = outbox.queue("support", msg())
    stats = outbox.run(once=True)
    assert (stats.failed, stats.retried, stats.sent) == (1, 0, 0)
    clock.advance(timedelta(days=1))
    assert outbox.run(once=True).claimed == 0
    [entry] = outbox.list()
    assert entry.status == MessageStatus.FAILED and entry.attempts == 1
    assert entry.last_error == f"{code} 5.7.1 refused by the test"
    [line] = attempt_lines(store, mid)
    assert f"failed (permanent failure): {code} 5.7.1 refused by the test" in line
    assert accepted(smtp_server.messages) == []


def test_c2_refused_recipient_is_recorded_and_the_others_get_the_message(
    make_outbox: MakeOutbox, smtp_server: SmtpServer
) -> None:
    smtp_server.inject("RCPT", "550 5.1.1 no such user", match="gone@")
    outbox = make_outbox()
    report = outbox.send_now("support", msg(to=[Address("bob@example.org"), Address("gone@example.org")]))
    assert report.sent and report.refused == {"gone@example.org": "550 5.1.1 no such user"}
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ("bob@example.org",)


# ---------------------------------------------------------------------- C3: ambiguous
def test_c3_connection_dropped_after_the_final_dot_is_ambiguous_and_retried(
    make_outbox: MakeOutbox, smtp_server: SmtpServer, store: Store, clock: FakeClock
) -> None:
    outbox = make_outbox(max_attempts=2, backoff={"initial": "5s", "max": "5s"})
    smtp_server.inject("DATA", None)  # the server took the data, then the connection went
    mid = outbox.queue("support", msg())
    stats = outbox.run(once=True)
    assert (stats.ambiguous, stats.retried) == (1, 1)
    assert "it may have arrived" in attempt_lines(store, mid)[0]
    clock.advance(timedelta(seconds=6))
    assert outbox.run(once=True).sent == 1
    received = smtp_server.messages
    assert [m.reply is None for m in received] == [True, False]  # the duplicate the window allows
    assert received[0].data == received[1].data


def test_c3_ambiguous_on_the_last_attempt_fails_and_says_so(
    make_outbox: MakeOutbox, smtp_server: SmtpServer
) -> None:
    outbox = make_outbox()
    smtp_server.inject("DATA", None)
    report = outbox.send_now("support", msg())
    assert report.status == MessageStatus.FAILED and report.ambiguous


# ---------------------------------------------------------------------- sessions, K1
def test_max_sessions_caps_the_sessions_at_the_server(
    make_outbox: MakeOutbox, smtp_server: SmtpServer
) -> None:
    outbox = make_outbox(max_sessions=3)
    for n in range(60):
        outbox.queue("support", msg(n))
    stats = outbox.run(once=True)
    assert stats.sent == 60 and len(accepted(smtp_server.messages)) == 60
    sessions = smtp_server.sessions
    assert 1 <= len(sessions) <= 3 and stats.sessions == len(sessions)


def test_k1_the_password_never_shows(make_outbox: MakeOutbox, smtp_server: SmtpServer, store: Store) -> None:
    user = smtp_server.add_user()
    wrong = canary("password")
    good = make_outbox(auth={"method": "password", "username": user.name, "password": user.password})
    assert good.send_now("support", msg(1)).sent
    assert smtp_server.messages[0].auth_user == user.name
    bad = make_outbox(auth={"method": "password", "username": user.name, "password": wrong})
    report = bad.send_now("support", msg(2))
    assert report.status == MessageStatus.FAILED
    with store.session(readonly=True) as session:
        texts = [e.text for e in list_log(session, limit=1000)]
    texts += [repr(report), repr(bad), repr(bad.list()), repr(bad.config)]
    assert any("535" in t or "authentication" in t.lower() for t in texts)
    for secret in (user.password, wrong):
        assert not any(secret in t for t in texts)


# ---------------------------------------------------------------------- worker processes
WORKER = """
import sys, time
from datetime import timedelta
from mailconduit._outbox import Outbox

config, lease, worker_id = sys.argv[1], float(sys.argv[2]), sys.argv[3]
with Outbox.open(config, worker_id=worker_id, lease=timedelta(seconds=lease)) as outbox:
    while True:
        outbox.run(once=True)
        counts = outbox.counts()
        if not counts.get("queued") and not counts.get("sending"):
            break
        time.sleep(0.1)
"""


def write_worker_files(tmp_path: Path, database: str, port: int, sessions: int) -> tuple[Path, Path]:
    import json

    config = tmp_path / "mailconduit.yaml"
    account = account_config(
        port, max_sessions=sessions, max_attempts=3, backoff={"initial": "1s", "max": "2s"}
    )
    config.write_text(json.dumps({"database": database, "accounts": {"support": account}}))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return config, script


def start_worker(script: Path, config: Path, name: str, lease: float = 2.0) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), str(config), str(lease), name], env=env, stderr=subprocess.PIPE
    )


def queue_many(database: str, port: int, count: int) -> set[str]:
    store = open_store(database)
    try:
        config = load_config({"accounts": {"support": account_config(port)}}, PLUGINS)
        outbox = Outbox(store, config, PLUGINS)
        ids = [outbox.queue("support", msg(n)) for n in range(count)]
        assert len(ids) == count
        return {e.message_id or "" for e in outbox.list(limit=count)}
    finally:
        store.close()


def finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    _out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]


def check_delivery(
    database: str, expected: set[str], server: SmtpServer, bound: int, victim: str | None = None
) -> int:
    """0 lost, every row sent, duplicates within ``bound`` and only among the victim's expired claims."""
    got = header_ids(server.messages)
    assert set(got) == expected  # 0 lost
    duplicated = {mid for mid, n in got.items() if n > 1}
    assert len(duplicated) <= bound
    store = open_store(database)
    try:
        config = load_config({"accounts": {}}, PLUGINS)
        counts = Outbox(store, config, PLUGINS).counts()
        with store.session(readonly=True) as session:
            texts = [e.text for e in list_log(session, limit=100_000)]
    finally:
        store.close()
    assert counts == {"sent": len(expected)}
    if victim is not None:
        reclaimed = {
            t.split(" on ", 1)[1].split(" expired")[0] for t in texts if f"claim of worker {victim} " in t
        }
        assert reclaimed, "the killed worker held no claims: the kill did not land mid-batch"
        assert duplicated <= reclaimed  # duplicates only from the killed worker's window
    return len(duplicated)


def test_c3_sigkill_mid_drain_on_sqlite_loses_nothing(tmp_path: Path, smtp_server: SmtpServer) -> None:
    database = f"sqlite:///{tmp_path / 'queue.db'}"
    sessions = 2
    expected = queue_many(database, smtp_server.plain_port, 300)
    config, script = write_worker_files(tmp_path, database, smtp_server.plain_port, sessions)
    first = start_worker(script, config, "first")
    wait_until(
        lambda: len(smtp_server.recorder.messages) >= 60, "60 messages from the first worker", timeout=60
    )
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert len(smtp_server.messages) < 300, "the first worker finished before it was killed"
    second = start_worker(script, config, "second")
    finish(second)
    # bound: kills x sessions x outcomes a session may have not yet durable (mark_batch)
    check_delivery(database, expected, smtp_server, bound=1 * sessions * DEFAULT_MARK_BATCH, victim="first")


def test_two_workers_on_postgresql_drain_2000_exactly_once_and_survive_a_sigkill(
    tmp_path: Path, smtp_server: SmtpServer, postgres_url: str
) -> None:
    sessions = 2
    expected = queue_many(postgres_url, smtp_server.plain_port, 2000)
    assert len(expected) == 2000
    config, script = write_worker_files(tmp_path, postgres_url, smtp_server.plain_port, sessions)
    victim = start_worker(script, config, "victim")
    survivor = start_worker(script, config, "survivor")
    wait_until(lambda: len(smtp_server.recorder.messages) >= 500, "500 messages", timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert len(smtp_server.messages) < 2000, "the workers finished before the kill"
    finish(survivor)
    duplicates = check_delivery(
        postgres_url, expected, smtp_server, bound=1 * sessions * DEFAULT_MARK_BATCH, victim="victim"
    )
    senders = Counter(m.mail_from for m in smtp_server.messages)
    assert sum(senders.values()) == 2000 + duplicates


def test_two_workers_on_postgresql_without_crashes_send_each_message_exactly_once(
    tmp_path: Path, smtp_server: SmtpServer, postgres_url: str
) -> None:
    expected = queue_many(postgres_url, smtp_server.plain_port, 400)
    config, script = write_worker_files(tmp_path, postgres_url, smtp_server.plain_port, 2)
    workers = [start_worker(script, config, f"w{n}", lease=60) for n in range(2)]
    for worker in workers:
        finish(worker)
    assert check_delivery(postgres_url, expected, smtp_server, bound=0) == 0
    assert len(smtp_server.sessions) <= 4


def test_a_worker_sleeping_between_polls_wakes_when_this_process_queues_mail(
    smtp_server: SmtpServer, store: Store
) -> None:
    """Replies a pipeline queues go out at once, not at the worker's next poll (an hour here)."""
    import threading
    import time

    config = load_config({"accounts": {"support": account_config(smtp_server.plain_port)}}, PLUGINS)
    worker = Outbox(store, config, PLUGINS, poll_interval=timedelta(hours=1))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # the worker found nothing due and sleeps for its hour
        Outbox(store, config, PLUGINS).queue("support", msg(7))
        (received,) = smtp_server.wait_for_messages(1, timeout=20)
        assert message_from_bytes(received.data)["Subject"] == "Message 7"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
