"""RELIABILITY.md B1 for SMTP: the outbox sending through a proxy that cuts the session at byte N.

The outbox sends a batch over one STARTTLS session (AUTH PLAIN, aiosmtpd) through
``mailconduit.testing.fault_proxy``. A clean run first measures the session's byte length in each
direction; then, for every cut point ``N = k * P`` (``P`` a prime step covering that length), the
first connection is reset (``rst@N``, and ``fin@N`` for a subset) after ``N`` bytes upstream
(client to server: EHLO, STARTTLS, the TLS handshake, AUTH, MAIL/RCPT and DATA) or downstream
(greeting, certificate, replies). ``Outbox.run(once=True)`` is repeated, with an injected clock
that jumps over the backoff, until the queue is drained. Every cut point must converge to the
clean result:

* every message is ``sent`` and arrived at the server (0 lost), byte-exact;
* a message arrived twice only when the outbox counted its attempt as *ambiguous* (the connection
  was lost after the data went out, before the reply: RELIABILITY.md C3), at most once per cut;
* at most 3 retries per cut point.

Default run: ~100 cut points over a ~30 KB session (~45 s on 2 cores). ``-m long``: >= 600 cut
points (``P`` = 7,919 upstream) over a 5 MB session, plus every 97th byte downstream, RST and FIN.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailconduit import Address, Attachment, Message, MessageStatus, load_plugins
from mailconduit._config import load_config
from mailconduit._outbox import Outbox
from mailconduit._store import Store, open_store
from mailconduit._store._repo_log import list_log
from mailconduit.testing import Fault, FaultProxy, SmtpServer

pytestmark = pytest.mark.servers

PLUGINS = load_plugins()
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
MAX_RETRIES_PER_CUT = 3


class FakeClock:
    """An injected clock; ``sleep`` advances it instead of waiting."""

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


def prime_at_least(n: int) -> int:
    """The smallest prime >= ``n`` (n >= 2)."""
    n = max(n, 2)
    while any(n % d == 0 for d in range(2, int(n**0.5) + 1)):
        n += 1
    return n


@dataclass
class Sweep:
    """One test's sending set-up: server, proxy, store, outbox, and a batch generator."""

    server: SmtpServer
    proxy: FaultProxy
    outbox: Outbox
    store: Store
    clock: FakeClock
    count: int
    body_size: int
    batches: int = 0
    problems: list[str] = field(default_factory=list)

    def batch(self) -> tuple[str, list[Message]]:
        """A new batch of ``count`` messages tagged with a fresh label (text and an attachment)."""
        self.batches += 1
        tag = f"batch-{self.batches}"
        rng = random.Random(self.batches)
        messages = []
        for n in range(self.count):
            blob = rng.randbytes(self.body_size // 2)
            messages.append(
                Message(
                    to=[Address(f"rcpt{n}@example.org")],
                    subject=f"{tag} message {n}",
                    text=f"{tag} message {n}\n" + ".\r\n..leading dot\n" * 3,
                    attachments=[Attachment(filename=f"{tag}-{n}.bin", content=blob)],
                )
            )
        return tag, messages

    def send(self, fault: Fault | None) -> dict[str, Any]:
        """Queue a batch, send it with ``fault`` on the first connection, retry until drained."""
        tag, messages = self.batch()
        self.server.forget()  # each cut point is judged on its own mail; the recorder stays small
        received_before = len(self.server.messages)
        connections_before = len(self.proxy.connections)
        ids = [self.outbox.queue("support", m) for m in messages]
        self.proxy.queue(fault)  # only the first connection of this cut point is cut
        retried = ambiguous = runs = 0
        while True:
            stats = self.outbox.run(once=True)
            runs += 1
            assert not stats.errors, stats.errors
            retried += stats.retried
            ambiguous += stats.ambiguous
            counts = self.outbox.counts()
            if not counts.get("queued") and not counts.get("sending"):
                break
            assert runs <= MAX_RETRIES_PER_CUT + 1, f"{fault}: not drained after {runs} runs: {counts}"
            self.clock.advance(timedelta(hours=1))  # past any backoff; nothing sleeps
        received = [m for m in self.server.messages[received_before:] if tag.encode() in m.data]
        return {
            "tag": tag,
            "ids": ids,
            "received": received,
            "retried": retried,
            "ambiguous": ambiguous,
            "connections": self.proxy.connections[connections_before:],
        }

    def check(self, fault: Fault | None, result: dict[str, Any]) -> None:
        """Record (not raise) how the result of ``fault`` differs from the clean result."""
        where = str(fault)
        entries = {e.id: e for e in self.outbox.list(limit=100_000)}
        with self.store.session(readonly=True) as session:
            from mailconduit._store._repo_messages import raw_bytes

            stored = {i: raw_bytes(session, i) for i in result["ids"]}
        arrived = Counter(m.data for m in result["received"])
        for message_id in result["ids"]:
            entry = entries[message_id]
            if entry.status != MessageStatus.SENT:
                self.problems.append(f"{where}: message {message_id} is {entry.status}: {entry.last_error}")
            copies = arrived[stored[message_id]]
            if copies == 0:
                self.problems.append(f"{where}: message {message_id} lost (never arrived byte-exact)")
            elif copies > 1 and not any("it may have arrived" in t for t in self.attempts(message_id)):
                self.problems.append(
                    f"{where}: message {message_id} arrived {copies} times without an ambiguous attempt"
                )
        duplicates = sum(c - 1 for c in arrived.values())
        if duplicates > min(result["ambiguous"], 1):
            self.problems.append(
                f"{where}: {duplicates} duplicates, {result['ambiguous']} ambiguous attempts (at most one "
                "message can be in the window after the final dot)"
            )
        if result["retried"] > MAX_RETRIES_PER_CUT:
            self.problems.append(f"{where}: {result['retried']} retries (> {MAX_RETRIES_PER_CUT})")
        if fault is not None and not result["connections"][0].triggered.is_set():
            self.problems.append(f"{where}: the cut never happened (the session is shorter than N)")

    def attempts(self, message_id: int) -> list[str]:
        """The outbox's email-log lines about ``message_id``'s attempts."""
        with self.store.session(readonly=True) as session:
            entries = list_log(session, account="support", limit=100_000)
        return [e.text for e in entries if e.message_id == message_id and ": attempt " in e.text]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


def make_sweep(
    smtp_server: SmtpServer, fault_proxy: Any, ca_pem: Path, store: Store, *, count: int, body_size: int
) -> Sweep:
    proxy: FaultProxy = fault_proxy(smtp_server.starttls_port)
    user = smtp_server.add_user()
    account = {
        "email": "support@example.test",
        "ca_file": str(ca_pem),
        "auth": {"method": "password", "username": user.name, "password": user.password},
        "send": {
            "protocol": "smtp",
            "host": "127.0.0.1",
            "port": proxy.port,
            "tls": "starttls",
            "ehlo_name": "client.example.test",
            "timeout": "10s",
            "max_attempts": MAX_RETRIES_PER_CUT + 1,
            "backoff": {"initial": "1s", "max": "10s"},
        },
    }
    config = load_config({"accounts": {"support": account}}, PLUGINS)
    clock = FakeClock()
    outbox = Outbox(
        store, config, PLUGINS, clock=clock, sleep=clock.sleep, rng=random.Random(5), batch_size=count
    )
    return Sweep(smtp_server, proxy, outbox, store, clock, count, body_size)


def cut_points(length: int, target: int) -> tuple[int, list[int]]:
    """A prime step P and the cut points k * P (k >= 1) below ``length``, about ``target`` of them."""
    step = prime_at_least(max(length // target, 2))
    return step, list(range(step, length, step))


def run_sweep(
    sweep: Sweep, *, up: int, down: int, fin_every: int, fixed_step: dict[str, int] | None = None
) -> int:
    """Measure a clean session, sweep ``up``/``down`` cut points (RST; FIN every ``fin_every``th)."""
    clean = sweep.send(None)
    sweep.check(None, clean)
    assert not sweep.problems, sweep.problems
    assert len(clean["connections"]) == 1 and clean["retried"] == 0
    first = clean["connections"][0]
    first.closed.wait(5)
    lengths = dict(first.sent)
    assert lengths["up"] > 1000 and lengths["down"] > 1000, lengths
    cuts = 0
    for direction, target in (("up", up), ("down", down)):
        if fixed_step is not None:
            points = list(range(fixed_step[direction], lengths[direction], fixed_step[direction]))
        else:
            points = cut_points(lengths[direction], target)[1]
        for index, after in enumerate(points):
            kinds = [True] + ([False] if fin_every and index % fin_every == 0 else [])
            for rst in kinds:
                fault = Fault.cut(after, direction, rst=rst)  # type: ignore[arg-type]
                sweep.check(fault, sweep.send(fault))
                cuts += 1
    return cuts


def test_b1_cut_sweep_every_cut_point_converges_to_the_clean_result(
    smtp_server: SmtpServer, fault_proxy: Any, ca_pem: Path, store: Store
) -> None:
    sweep = make_sweep(smtp_server, fault_proxy, ca_pem, store, count=6, body_size=3000)
    cuts = run_sweep(sweep, up=50, down=35, fin_every=6)
    assert cuts >= 90  # ~100: the prime steps round the counts
    assert not sweep.problems, "\n".join(sweep.problems)


@pytest.mark.long
@pytest.mark.timeout(7200)
def test_b1_full_sweep_over_a_5_mb_session(
    smtp_server: SmtpServer, fault_proxy: Any, ca_pem: Path, store: Store
) -> None:
    sweep = make_sweep(smtp_server, fault_proxy, ca_pem, store, count=50, body_size=150_000)
    cuts = run_sweep(sweep, up=0, down=0, fin_every=4, fixed_step={"up": 7919, "down": 97})
    assert cuts >= 600
    assert not sweep.problems, "\n".join(sweep.problems)
