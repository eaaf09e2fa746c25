"""The outbox against the ``memory`` transport: queue, retries with an injected clock, failures, schedule.

RELIABILITY.md C1 (backoff schedule within 10%, every attempt logged with code and text), C2
(permanent failures at once, per-recipient refusals), leases, scheduled sends, the rate limit, the
session cap, ``send_now``, ``retry`` and K1 (the account's password never shows).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from attrs import define

from mailconduit import (
    Account,
    Address,
    Credentials,
    Message,
    MessageStatus,
    SendResult,
    SendSettings,
    hookimpl,
    load_plugins,
)
from mailconduit._config import Config, load_config
from mailconduit._outbox import Outbox
from mailconduit._outbox._claim import claim
from mailconduit._retry import JITTER
from mailconduit._store import Store, open_store
from mailconduit._store._repo_log import LogEntry, list_log
from mailconduit.testing import MemoryServer, canary

_names = itertools.count()
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """An injected clock; ``sleep`` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += timedelta(seconds=seconds)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta


# ---------------------------------------------------------------------- a counting transport plugin
@define(frozen=True, kw_only=True)
class CountingSettings(SendSettings):
    """``send: {protocol: counting, host: MEMORY-SERVER}``."""


class CountingSession:
    def __init__(self, transport: CountingTransport, inner: Any) -> None:
        self._transport = transport
        self._inner = inner

    def send(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> SendResult:
        if any(r.startswith("boom@") for r in recipients):
            raise RuntimeError("the transport tripped over this message")
        result: SendResult = self._inner.send(envelope_from, recipients, data)
        return result

    def close(self) -> None:
        with COUNTS_LOCK:
            COUNTS["open"] -= 1
        self._inner.close()


COUNTS = {"open": 0, "max": 0, "opened": 0}
COUNTS_LOCK = threading.Lock()


class CountingTransport:
    def open(self, account: Account, credentials: Credentials | None) -> CountingSession:
        inner = load_plugins(autoload=False).send_transport("memory").open(account, credentials)
        with COUNTS_LOCK:
            COUNTS["open"] += 1
            COUNTS["opened"] += 1
            COUNTS["max"] = max(COUNTS["max"], COUNTS["open"])
        return CountingSession(self, inner)


class CountingPlugin:
    @hookimpl
    def register_transports(self, register: Any) -> None:
        register("counting", CountingTransport, settings=CountingSettings)


PLUGINS = load_plugins(autoload=False, extra=[("counting", CountingPlugin())])


# ---------------------------------------------------------------------- fixtures
@pytest.fixture
def server() -> Iterator[MemoryServer]:
    password = canary("password")
    with MemoryServer(f"outbox-{next(_names)}", users={"support@example.test": password}) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


MakeOutbox = Callable[..., Outbox]


def make_config(server: MemoryServer, protocol: str = "memory", **send: Any) -> Config:
    account: dict[str, Any] = {
        "email": "support@example.test",
        "display_name": "Support",
        "auth": {"method": "password", "password": server.users["support@example.test"]},
        "send": {"protocol": protocol, "host": server.name, **send},
    }
    extra = {k: account["send"].pop(k) for k in ("shared_mailbox",) if k in account["send"]}
    account.update(extra)
    return load_config({"accounts": {"support": account}}, PLUGINS)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_outbox(server: MemoryServer, store: Store, clock: FakeClock) -> MakeOutbox:
    def make(protocol: str = "memory", options: dict[str, Any] | None = None, **send: Any) -> Outbox:
        import random

        return Outbox(
            store,
            make_config(server, protocol, **send),
            PLUGINS,
            worker_id="test-worker",
            clock=clock,
            sleep=clock.sleep,
            rng=random.Random(7),
            **(options or {}),
        )

    return make


def msg(n: int = 1, **kwargs: Any) -> Message:
    defaults: dict[str, Any] = {
        "to": [Address("bob@example.org", "Bob")],
        "subject": f"Message {n}",
        "text": f"Body {n}\n",
    }
    return Message(**{**defaults, **kwargs})


def log_of(store: Store, message_id: int | None = None) -> list[LogEntry]:
    with store.session(readonly=True) as session:
        entries = list_log(session, account="support", limit=10_000)
    entries.reverse()
    return [e for e in entries if message_id is None or e.message_id == message_id]


def attempts_logged(store: Store, message_id: int) -> list[str]:
    return [e.text for e in log_of(store, message_id) if ": attempt " in e.text]


# ---------------------------------------------------------------------- composition and sending
def test_queued_message_is_sent_with_its_bytes_fixed_at_enqueue(
    make_outbox: MakeOutbox, server: MemoryServer, store: Store
) -> None:
    outbox = make_outbox()
    message = msg(cc=[Address("carol@example.org")], bcc=[Address("dave@example.org")])
    mid = outbox.queue("support", message)
    [entry] = outbox.list()
    assert (entry.id, entry.status, entry.attempts) == (mid, MessageStatus.QUEUED, 0)
    assert entry.recipients == ("bob@example.org", "carol@example.org", "dave@example.org")

    stats = outbox.run(once=True)

    assert (stats.sent, stats.failed, stats.retried, stats.sessions) == (1, 0, 0, 1)
    [sent] = server.sent
    parsed = message_from_bytes(sent.data)
    assert parsed["Message-ID"] == entry.message_id
    assert parsed["From"] == "Support <support@example.test>"
    assert parsed["Bcc"] is None and b"dave@" not in sent.data
    assert sent.recipients == entry.recipients
    assert sent.envelope_from == "support@example.test"
    with store.session(readonly=True) as session:
        from mailconduit._store._repo_messages import raw_bytes

        assert raw_bytes(session, mid) == sent.data
    [done] = outbox.list()
    assert done.status == MessageStatus.SENT and done.attempts == 1 and done.sent_at == START
    assert "attempt 1 of 1: sent: 250 2.0.0 queued as 1" in attempts_logged(store, mid)[0]


def test_shared_mailbox_is_the_from_and_the_account_the_sender_on_behalf(
    make_outbox: MakeOutbox, server: MemoryServer
) -> None:
    outbox = make_outbox(shared_mailbox="team@example.test", send_on_behalf=True)
    outbox.queue("support", msg())
    outbox.run(once=True)
    [sent] = server.sent
    parsed = message_from_bytes(sent.data)
    assert parsed["From"] == "Support <team@example.test>"
    assert parsed["Sender"] == "Support <support@example.test>"
    assert sent.envelope_from == "support@example.test"


def test_shared_mailbox_without_on_behalf_has_no_sender(
    make_outbox: MakeOutbox, server: MemoryServer
) -> None:
    outbox = make_outbox(shared_mailbox="team@example.test")
    outbox.queue("support", msg())
    outbox.run(once=True)
    parsed = message_from_bytes(server.sent[0].data)
    assert parsed["From"] == "Support <team@example.test>" and parsed["Sender"] is None
    assert server.sent[0].envelope_from == "team@example.test"


def test_one_session_carries_many_messages(make_outbox: MakeOutbox, server: MemoryServer) -> None:
    outbox = make_outbox()
    for n in range(25):
        outbox.queue("support", msg(n))
    stats = outbox.run(once=True)
    assert stats.sent == 25 and stats.sessions == 1
    assert server.sessions_opened == 1


# ---------------------------------------------------------------------- C1: temporary failures
def test_c1_451_twice_then_250_arrives_on_the_third_attempt_on_the_backoff_schedule(
    make_outbox: MakeOutbox, server: MemoryServer, store: Store, clock: FakeClock
) -> None:
    outbox = make_outbox(max_attempts=3, backoff={"initial": "30s", "max": "1h"})
    server.fail_next_send(451, "4.3.0 try again later")
    server.fail_next_send(451, "4.3.0 still busy")
    mid = outbox.queue("support", msg())
    delays = []
    for expected in (30, 60):
        before = clock()
        stats = outbox.run(once=True)
        assert (stats.retried, stats.sent) == (1, 0)
        [entry] = outbox.list()
        assert entry.status == MessageStatus.QUEUED and entry.next_attempt_at is not None
        delay = (entry.next_attempt_at - before).total_seconds()
        assert expected * (1 - JITTER) <= delay <= expected * (1 + JITTER)
        delays.append(delay)
        clock.advance(timedelta(seconds=delay - 1))
        assert outbox.run(once=True).claimed == 0  # not due yet
        clock.advance(timedelta(seconds=1))
    stats = outbox.run(once=True)
    assert stats.sent == 1
    assert len(server.sent) == 1
    [entry] = outbox.list()
    assert entry.status == MessageStatus.SENT and entry.attempts == 3
    lines = attempts_logged(store, mid)
    assert len(lines) == 3
    assert "attempt 1 of 3: temporary failure: 451 4.3.0 try again later" in lines[0]
    assert "attempt 2 of 3: temporary failure: 451 4.3.0 still busy" in lines[1]
    assert "attempt 3 of 3: sent: 250 " in lines[2]
    assert sum("sent:" in line for line in lines) == 1


@pytest.mark.parametrize("code", [421, 450, 451, 452])
def test_c1_every_4xx_is_retried_and_one_attempt_by_default_gives_up(
    make_outbox: MakeOutbox, server: MemoryServer, store: Store, code: int
) -> None:
    outbox = make_outbox()  # max_attempts defaults to 1: no retry
    server.fail_next_send(code, "4.7.0 throttled")
    mid = outbox.queue("support", msg())
    stats = outbox.run(once=True)
    assert (stats.failed, stats.retried) == (1, 0)
    [entry] = outbox.list()
    assert entry.status == MessageStatus.FAILED and entry.last_error == f"{code} 4.7.0 throttled"
    assert "gave up after 1 of 1 attempts" in attempts_logged(store, mid)[0]


def test_backoff_is_capped_at_max(make_outbox: MakeOutbox, server: MemoryServer, clock: FakeClock) -> None:
    outbox = make_outbox(max_attempts=5, backoff={"initial": "40s", "max": "1m"})
    for _ in range(3):
        server.fail_next_send(451, "4.3.0 busy")
    outbox.queue("support", msg())
    for _ in range(3):
        before = clock()
        outbox.run(once=True)
        [entry] = outbox.list()
        assert entry.next_attempt_at is not None
        delay = (entry.next_attempt_at - before).total_seconds()
        assert delay <= 60
        clock.advance(timedelta(seconds=delay))
    assert outbox.run(once=True).sent == 1


# ---------------------------------------------------------------------- C2: permanent failures
@pytest.mark.parametrize("code", [550, 552, 553, 554])
def test_c2_permanent_failure_fails_at_the_first_attempt_with_the_reply(
    make_outbox: MakeOutbox, server: MemoryServer, store: Store, clock: FakeClock, code: int
) -> None:
    outbox = make_outbox(max_attempts=5)
    server.fail_next_send(code, "5.7.1 rejected by policy")
    mid = outbox.queue("support", msg())
    stats = outbox.run(once=True)
    assert (stats.failed, stats.retried, stats.sent) == (1, 0, 0)
    [entry] = outbox.list()
    assert entry.status == MessageStatus.FAILED and entry.attempts == 1
    assert entry.last_error == f"{code} 5.7.1 rejected by policy"
    clock.advance(timedelta(days=1))
    assert outbox.run(once=True).claimed == 0
    assert server.sent == []
    [line] = attempts_logged(store, mid)
    assert f"attempt 1 of 5: failed (permanent failure): {code} 5.7.1" in line


def test_c2_refused_recipients_are_recorded_per_address_and_the_others_get_it(
    make_outbox: MakeOutbox, server: MemoryServer, store: Store
) -> None:
    server.refuse_recipient("gone@example.org", 550, "5.1.1 no such user")
    server.refuse_recipient("full@example.org", 552, "5.2.2 mailbox full")
    outbox = make_outbox()
    mid = outbox.queue(
        "support",
        msg(to=[Address("bob@example.org"), Address("gone@example.org")], cc=[Address("full@example.org")]),
    )
    stats = outbox.run(once=True)
    assert stats.sent == 1
    assert server.sent[0].recipients == ("bob@example.org",)
    [entry] = outbox.list()
    assert entry.status == MessageStatus.SENT
    assert entry.refused == {
        "gone@example.org": "5.1.1 no such user",
        "full@example.org": "5.2.2 mailbox full",
    }
    [line] = attempts_logged(store, mid)
    assert "refused: gone@example.org: 5.1.1 no such user; full@example.org: 5.2.2 mailbox full" in line


def test_every_recipient_refused_is_a_permanent_failure(
    make_outbox: MakeOutbox, server: MemoryServer
) -> None:
    server.refuse_recipient("bob@example.org", 550, "5.1.1 no such user")
    outbox = make_outbox(max_attempts=3)
    report = outbox.send_now("support", msg())
    assert report.status == MessageStatus.FAILED and report.code == 550
    assert report.reply == "550 5.1.1 no such user"


# ---------------------------------------------------------------------- send_now, retry, list
def test_send_now_reports_sent_queued_for_retry_or_failed(
    make_outbox: MakeOutbox, server: MemoryServer, clock: FakeClock
) -> None:
    outbox = make_outbox(max_attempts=2, backoff={"initial": "10s", "max": "1m"})
    ok = outbox.send_now("support", msg(1))
    assert ok.sent and ok.attempts == 1 and ok.reply.startswith("250 ")

    server.fail_next_send(451, "4.3.0 later")
    later = outbox.send_now("support", msg(2))
    assert later.status == MessageStatus.QUEUED and later.attempts == 1
    assert later.next_attempt_at is not None and later.next_attempt_at > clock()
    assert later.code == 451 and later.reply == "451 4.3.0 later"

    server.fail_next_send(554, "5.7.0 no")
    bad = outbox.send_now("support", msg(3))
    assert bad.status == MessageStatus.FAILED and bad.next_attempt_at is None

    clock.advance(timedelta(seconds=20))
    assert outbox.run(once=True).sent == 1
    assert [e.status for e in outbox.list()] == [MessageStatus.FAILED, MessageStatus.SENT, MessageStatus.SENT]


def test_retry_requeues_a_failed_message_only(
    make_outbox: MakeOutbox, server: MemoryServer, store: Store
) -> None:
    outbox = make_outbox()
    server.fail_next_send(550, "5.0.0 nope")
    report = outbox.send_now("support", msg())
    assert report.status == MessageStatus.FAILED
    entry = outbox.retry(report.id)
    assert entry.status == MessageStatus.QUEUED and entry.attempts == 0
    with pytest.raises(ValueError, match="is queued, not failed"):
        outbox.retry(report.id)
    with pytest.raises(LookupError, match="no outgoing message with id 999"):
        outbox.retry(999)
    assert outbox.run(once=True).sent == 1
    assert outbox.list(status="sent")[0].id == report.id
    assert outbox.list(status="failed") == [] and outbox.list(account="other") == []
    assert outbox.counts() == {"sent": 1}


def test_queue_refuses_what_it_cannot_send(make_outbox: MakeOutbox) -> None:
    outbox = make_outbox()
    from mailconduit import HeaderInjectionError, MessageError

    with pytest.raises(MessageError, match="no recipients"):
        outbox.queue("support", Message(subject="x", text="y"))
    with pytest.raises(HeaderInjectionError, match="subject"):
        outbox.queue("support", msg(subject="hi\r\nBcc: evil@example.org"))
    with pytest.raises(LookupError, match="support"):
        outbox.queue("nobody", msg())
    with pytest.raises(ValueError, match="naive"):
        outbox.queue("support", msg(), at=datetime(2030, 1, 1))  # naive: the point of the test
    assert outbox.list() == []


# ---------------------------------------------------------------------- schedule, rate, sessions
def test_scheduled_message_is_not_sent_before_its_time(
    make_outbox: MakeOutbox, server: MemoryServer, clock: FakeClock
) -> None:
    outbox = make_outbox()
    outbox.queue("support", msg(1), at=START + timedelta(hours=1))
    outbox.queue("support", msg(2))
    assert outbox.run(once=True).sent == 1
    clock.advance(timedelta(minutes=59, seconds=59))
    assert outbox.run(once=True).claimed == 0
    assert len(server.sent) == 1
    clock.advance(timedelta(seconds=1))
    assert outbox.run(once=True).sent == 1
    assert [message_from_bytes(s.data)["Subject"] for s in server.sent] == ["Message 2", "Message 1"]
    assert outbox.list(status="sent")[-1].scheduled_at == START + timedelta(hours=1)


def test_rate_limit_holds_in_every_window(make_outbox: MakeOutbox, store: Store, clock: FakeClock) -> None:
    outbox = make_outbox(rate_limit="3/min", max_sessions=2)
    for n in range(10):
        outbox.queue("support", msg(n))
    stats = outbox.run(once=True)
    assert stats.sent == 10
    times = sorted(e.time for e in log_of(store) if ": sent: " in e.text)
    assert len(times) == 10
    for start in times:  # every window of one minute that starts at a send
        assert sum(start <= t < start + timedelta(minutes=1) for t in times) <= 3
    assert times[-1] - times[0] >= timedelta(minutes=3)  # 10 at 3/min needs 3 more minutes
    assert clock.slept  # it waited through the injected sleep, not the wall clock


def test_max_sessions_caps_concurrent_sessions_and_each_session_is_reused(
    make_outbox: MakeOutbox, server: MemoryServer
) -> None:
    with COUNTS_LOCK:
        COUNTS.update(open=0, max=0, opened=0)
    outbox = make_outbox(protocol="counting", max_sessions=3)
    for n in range(60):
        outbox.queue("support", msg(n))
    stats = outbox.run(once=True)
    assert stats.sent == 60 and len(server.sent) == 60
    assert 1 <= COUNTS["max"] <= 3 and COUNTS["opened"] <= 3 and COUNTS["open"] == 0


def test_an_unexpected_exception_fails_only_its_message(
    make_outbox: MakeOutbox, server: MemoryServer, store: Store
) -> None:
    outbox = make_outbox(protocol="counting", max_attempts=2)
    ids = [outbox.queue("support", msg(n)) for n in range(3)]
    bad = outbox.queue("support", msg(9, to=[Address("boom@example.org")]))
    ids += [outbox.queue("support", msg(n)) for n in range(3, 6)]
    stats = outbox.run(once=True)
    assert stats.sent == 6 and stats.retried == 1 and stats.errors == ()
    by_id = {e.id: e for e in outbox.list()}
    assert all(by_id[i].status == MessageStatus.SENT for i in ids)
    assert by_id[bad].status == MessageStatus.QUEUED
    assert by_id[bad].last_error == "unexpected RuntimeError: the transport tripped over this message"


# ---------------------------------------------------------------------- leases
def test_an_expired_claim_returns_to_the_queue(
    make_outbox: MakeOutbox, server: MemoryServer, store: Store, clock: FakeClock
) -> None:
    outbox = make_outbox()
    for n in range(4):
        outbox.queue("support", msg(n))
    held = claim(store, worker_id="crashed", now=clock(), lease=timedelta(minutes=2), limit=3)
    assert len(held) == 3
    stats = outbox.run(once=True)
    assert stats.sent == 1  # the fourth; the others are someone else's
    clock.advance(timedelta(minutes=2, seconds=1))
    stats = outbox.run(once=True)
    assert (stats.sent, stats.reclaimed) == (3, 3)
    assert len(server.sent) == 4
    warnings = [e.text for e in log_of(store) if "claim of worker crashed" in e.text]
    assert len(warnings) == 3


def test_a_long_group_renews_its_lease(make_outbox: MakeOutbox, store: Store, clock: FakeClock) -> None:
    outbox = make_outbox(rate_limit="1/min", options={"lease": timedelta(minutes=3)})
    for n in range(8):
        outbox.queue("support", msg(n))
    seen: list[int] = []

    def competitor(_stats: Any) -> None:  # another worker trying to claim while this one is slow
        seen.append(len(claim(store, worker_id="other", now=clock(), lease=timedelta(minutes=1), limit=10)))

    stats = outbox.run(once=True, progress=competitor)
    assert stats.sent == 8 and stats.reclaimed == 0
    assert sum(seen) == 0  # the lease was renewed in time: nobody else could take them


# ---------------------------------------------------------------------- K1
def test_the_password_never_shows_in_log_errors_or_reprs(
    server: MemoryServer, store: Store, clock: FakeClock
) -> None:
    wrong = canary("password")
    config = load_config(
        {
            "accounts": {
                "support": {
                    "email": "support@example.test",
                    "auth": {"method": "password", "password": wrong},
                    "send": {"protocol": "memory", "host": server.name},
                }
            }
        },
        PLUGINS,
    )
    outbox = Outbox(store, config, PLUGINS, clock=clock, sleep=clock.sleep)
    report = outbox.send_now("support", msg())
    assert report.status == MessageStatus.FAILED and "authentication failed" in report.reply
    texts = [e.text for e in log_of(store)] + [repr(outbox), repr(report), repr(outbox.list()), repr(config)]
    for secret in (wrong, server.users["support@example.test"]):
        assert not any(secret in text for text in texts)


def test_importing_the_outbox_api_loads_no_database_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mailconduit._outbox as o; o.Outbox, o.send, o.queue, o.RunStats, o.DeliveryReport;"
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'cryptography', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------- set-based recording
def test_one_batch_records_each_outcome_with_its_own_time_and_skips_claims_it_lost(
    make_outbox: MakeOutbox, store: Store, clock: FakeClock
) -> None:
    from mailconduit._outbox._record import Done, write_outcomes
    from mailconduit._outbox._report import Outcome

    outbox = make_outbox()
    ids = [outbox.queue("support", msg(n)) for n in range(4)]
    mine = claim(store, worker_id="me", now=clock(), lease=timedelta(minutes=1), limit=3)
    theirs = claim(store, worker_id="other", now=clock(), lease=timedelta(minutes=1), limit=1)
    assert [c.id for c in mine + theirs] == ids
    sent = Outcome(kind="sent", code=250, reply="250 ok")
    refused = Outcome(kind="sent", code=250, reply="250 ok", refused={"x@example.org": "550 no"})
    batch = [
        Done(account="support", max_attempts=1, item=mine[0], outcome=sent, at=START + timedelta(seconds=1)),
        Done(account="support", max_attempts=1, item=mine[1], outcome=sent, at=START + timedelta(seconds=2)),
        Done(
            account="support", max_attempts=1, item=mine[2], outcome=refused, at=START + timedelta(seconds=3)
        ),
        Done(
            account="support", max_attempts=1, item=theirs[0], outcome=sent, at=START + timedelta(seconds=4)
        ),
    ]
    with store.engine.connect() as connection, connection.begin():
        assert write_outcomes(connection, batch, worker_id="me", now=START) == [True, True, True, False]
    by_id = {e.id: e for e in outbox.list()}
    assert [by_id[i].sent_at for i in ids[:3]] == [START + timedelta(seconds=n) for n in (1, 2, 3)]
    assert by_id[ids[2]].refused == {"x@example.org": "550 no"}
    assert (by_id[ids[3]].status, by_id[ids[3]].claimed_by, by_id[ids[3]].attempts) == (
        MessageStatus.SENDING,
        "other",
        0,
    )
    lines = [attempts_logged(store, i) for i in ids]
    assert all(len(found) == 1 for found in lines)
    assert "another worker took the message over" in lines[3][0]
    assert [e.time for i in ids for e in log_of(store, i) if ": attempt " in e.text] == [
        START + timedelta(seconds=n) for n in (1, 2, 3, 4)
    ]


def test_the_outbox_defaults_are_the_workers() -> None:
    import inspect

    from mailconduit._outbox._worker import DEFAULT_BATCH_SIZE, DEFAULT_MARK_BATCH

    parameters = inspect.signature(Outbox).parameters
    assert (parameters["batch_size"].default, parameters["mark_batch"].default) == (
        DEFAULT_BATCH_SIZE,
        DEFAULT_MARK_BATCH,
    )
