"""RELIABILITY.md A12 and C4: several `mailconduit run` processes sharing one PostgreSQL store.

**A12** — four ``mailconduit run --no-outbox`` processes with the same configuration of 20 accounts
(20 Dovecot users, one pipeline each, half IDLE and half polling) replicate while mail is delivered
to every account. A sampler reads ``pg_locks`` every 100 ms: per (account, folder), the runners
holding the pipeline's ownership lock (``_runner._jobs.ownership_key``) or the folder's run lock
(``_replicate._lock.lock_key``) are told apart by their ``application_name``, and at no sample may
two runners hold locks of the same (account, folder). Half-way through, the runner owning the most
pipelines is killed with SIGKILL; each of its pipelines must record a successful run by another
runner in ``runner_status`` within the documented bound: a standby tries to take a pipeline over
once per ``min(interval, 30 s)`` (``_runner._jobs``), plus 10 s (A12: "within lease + 10 s"). At the
end every delivered message is in the store exactly once, byte for byte (0 lost, 0 dup).

**C4** — eight ``mailconduit run`` processes whose configuration has no pipelines (each runs only
its outbox worker) drain a queue on PostgreSQL into the aiosmtpd ``smtp_server``: every message is
received exactly once (by Message-ID), every row is marked ``sent``, and the throughput is printed.

Default run: 20 accounts x 10 messages for A12 (about a minute) and 2,000 messages for C4;
``-m long``: 20 x 100 messages over a longer delivery window, and 10,000 messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mailconduit import Address, Message, MessageStatus, load_plugins
from mailconduit._config import load_config
from mailconduit._outbox import Outbox
from mailconduit._replicate._lock import lock_key
from mailconduit._runner._jobs import ownership_key
from mailconduit._store import open_store
from mailconduit._store._models import Direction, EmailLog, MessageRow, RunnerStatus
from mailconduit._store._repo_messages import raw_bytes_of
from mailconduit.testing import DovecotServer, MailUser, SmtpServer, wait_until

pytestmark = pytest.mark.servers

PLUGINS = load_plugins()
FOLDER = "INBOX"
SAMPLE_EVERY = 0.1
TAKEOVER_SLACK = 10.0
"""A12: a dead runner's pipelines are resumed within the lease plus this many seconds."""


# ------------------------------------------------------------------------------------------ helpers
def mailconduit(config: Path, db_url: str, *args: str) -> list[str]:
    """The command line of ``mailconduit --config CONFIG --db DB_URL ARGS``."""
    return [sys.executable, "-m", "mailconduit", "--config", str(config), "--db", db_url, *args]


def named(db_url: str, name: str) -> str:
    """``db_url`` with ``application_name=name``: how pg_stat_activity tells the runners apart."""
    return f"{db_url}{'&' if '?' in db_url else '?'}application_name={name}"


def upgrade(config: Path, db_url: str) -> None:
    done = subprocess.run(mailconduit(config, db_url, "db", "upgrade"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def incoming(account: str, n: int) -> bytes:
    """A small CRLF message unique to ``account`` and ``n``."""
    return (
        f"From: Sender <sender@example.test>\r\nTo: {account}@example.test\r\n"
        f"Subject: scale-out {account} {n}\r\nMessage-ID: <{account}-{n}@scale.example.test>\r\n"
        f"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n"
        f"Message {n} for {account}.\r\n"
    ).encode()


@dataclass
class Proc:
    """A ``mailconduit run`` child process and where its logs go."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    terminated: bool = False

    @property
    def runner_id(self) -> str:
        """Its id on the status board (``host:pid``)."""
        import socket

        return f"{socket.gethostname()}:{self.popen.pid}"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def terminate(self) -> None:
        """SIGTERM, once (a second one means "exit now" to ``mailconduit run``)."""
        if self.popen.poll() is None and not self.terminated:
            self.terminated = True
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status (SIGKILL after ``timeout``)."""
        self.terminate()
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            return -9


def stop_all(procs: list[Proc], timeout: float = 60) -> dict[str, int]:
    """SIGTERM every running child at once, then their exit statuses by name."""
    for proc in procs:
        proc.terminate()
    return {proc.name: proc.stop(timeout) for proc in procs}


def spawn(name: str, command: list[str], logs: Path, env: dict[str, str]) -> Proc:
    log = logs / f"{name}.log"
    handle = log.open("wb")
    try:
        popen = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    finally:
        handle.close()
    return Proc(name, popen, log)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Children to reap whatever the test does: SIGKILL for those still running at the end."""
    started: list[Proc] = []
    yield started
    for proc in started:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait()


# ------------------------------------------------------------------------------------------ A12
@dataclass
class Scale:
    """How big an A12 run is."""

    accounts: int
    per_account: int
    deliver_seconds: float


@dataclass
class LockSampler:
    """Samples the advisory locks of the runners every ``SAMPLE_EVERY`` seconds, in a thread.

    ``keys`` maps an advisory-lock key to ``(kind, account, folder)``; the locks are grouped by
    (account, folder) and the holders told apart by ``application_name``. Also samples
    ``runner_status`` to time takeovers.
    """

    dsn: str
    keys: dict[int, tuple[str, str, str]]
    samples: int = 0
    run_lock_samples: int = 0
    violations: list[str] = field(default_factory=list)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    successes: dict[str, list[tuple[datetime, str]]] = field(default_factory=lambda: defaultdict(list))
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    QUERY = """
        SELECT a.application_name, l.classid::bigint, l.objid::bigint
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
    STATUS = "SELECT name, runner, last_success_at FROM runner_status WHERE kind = 'pipeline'"

    def sample(self, connection: Any) -> None:
        rows = connection.execute(self.QUERY).fetchall()
        holders: dict[tuple[str, str], set[str]] = defaultdict(set)
        owners: dict[tuple[str, str], str] = {}
        runs = 0
        for application, classid, objid in rows:
            unsigned = (classid << 32) | objid
            key = unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned
            if key not in self.keys:
                continue
            kind, account, folder = self.keys[key]
            holders[account, folder].add(application)
            if kind == "ownership":
                owners[account, folder] = application
            else:
                runs += 1
        status = connection.execute(self.STATUS).fetchall()
        with self.lock:
            self.samples += 1
            self.run_lock_samples += runs
            self.owners = owners
            for where, names in holders.items():
                if len(names) > 1:
                    self.violations.append(f"sample {self.samples}: {where} held by {sorted(names)}")
            for name, runner, success in status:
                if success is None:
                    continue
                seen = self.successes[name]
                if not seen or seen[-1][0] != success:
                    seen.append((success, runner))

    def loop(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.dsn, autocommit=True) as connection:
                while not self.stop.is_set():
                    self.sample(connection)
                    self.stop.wait(SAMPLE_EVERY)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def owned_by(self) -> Counter[str]:
        with self.lock:
            return Counter(self.owners.values())


def psycopg_dsn(db_url: str) -> str:
    """The libpq form of a ``postgresql+psycopg://`` URL."""
    return db_url.replace("postgresql+psycopg://", "postgresql://", 1)


def a12_config(
    dovecot: DovecotServer, users: list[MailUser], names: list[str], *, poll: str, refresh: str
) -> str:
    accounts = {}
    pipelines = {}
    for n, (name, user) in enumerate(zip(names, users, strict=True)):
        accounts[name] = {
            "email": f"{name}@example.test",
            "auth": {"method": "password", "username": user.name, "password": f"${{env:PW_{name}}}"},
            "receive": {
                "protocol": "imap",
                "host": "127.0.0.1",
                "port": dovecot.imap_port,
                "tls": "none",
                "timeout": "20s",
                "poll_every": poll,
                "idle_refresh": refresh,
                "reconnect_backoff": {"initial": "1s", "max": "5s"},
            },
        }
        pipelines[f"p-{name}"] = {"receive": name, "subscribe": n % 2 == 0, "steps": ["store"]}
    return json.dumps({"accounts": accounts, "pipelines": pipelines, "runner": {"watchdog_intervals": 5}})


def stored_incoming(db_url: str) -> list[tuple[str, str | None, int | None, int | None, str]]:
    """Every received row: (account, folder, UIDVALIDITY, UID, sha256 of the raw bytes)."""
    store = open_store(db_url)
    try:
        with store.session(readonly=True) as session:
            rows = session.execute(
                select(
                    MessageRow.id,
                    MessageRow.account,
                    MessageRow.folder,
                    MessageRow.uidvalidity,
                    MessageRow.uid,
                ).where(MessageRow.direction == Direction.INCOMING)
            ).all()
            raws = raw_bytes_of(session, [r.id for r in rows])
        return [(a, f, v, u, sha(bytes(raws[i]))) for i, a, f, v, u in rows]
    finally:
        store.close()


def count_incoming(db_url: str) -> int:
    store = open_store(db_url)
    try:
        with store.session(readonly=True) as session:
            query = (
                select(func.count()).select_from(MessageRow).where(MessageRow.direction == Direction.INCOMING)
            )
            return int(session.execute(query).scalar_one())
    finally:
        store.close()


def final_status(db_url: str) -> dict[str, tuple[str, str | None]]:
    store = open_store(db_url)
    try:
        with store.session(readonly=True) as session:
            rows = session.scalars(select(RunnerStatus).where(RunnerStatus.kind == "pipeline"))
            return {r.name: (r.state, r.runner) for r in rows}
    finally:
        store.close()


def run_a12(
    scale: Scale,
    *,
    dovecot: DovecotServer,
    postgres_url: str,
    tmp_path: Path,
    procs: list[Proc],
) -> None:
    names = [f"acct{n:02d}" for n in range(scale.accounts)]
    users = [dovecot.add_user(prefix="scale") for _ in names]
    poll, refresh = 1.0, 5.0
    config = tmp_path / "mailconduit.yaml"
    config.write_text(a12_config(dovecot, users, names, poll=f"{poll:g}s", refresh=f"{refresh:g}s"))
    upgrade(config, postgres_url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.update({f"PW_{name}": user.password for name, user in zip(names, users, strict=True)})
    # the documented takeover bound: a standby tries once per min(interval, 30 s), plus A12's 10 s
    interval = {f"p-{name}": refresh if n % 2 == 0 else poll for n, name in enumerate(names)}
    bound = {p: min(i, 30.0) + TAKEOVER_SLACK for p, i in interval.items()}

    keys: dict[int, tuple[str, str, str]] = {}
    for name in names:
        keys[lock_key(name, FOLDER)] = ("run", name, FOLDER)
        keys[ownership_key(f"p-{name}", name, FOLDER)] = ("ownership", name, FOLDER)
    sampler = LockSampler(psycopg_dsn(postgres_url), keys)
    sampling = threading.Thread(target=sampler.loop, name="pg_locks sampler", daemon=True)
    sampling.start()

    runners = [f"runner{k}" for k in range(4)]
    for name in runners:
        command = mailconduit(config, named(postgres_url, name), "run", "--no-outbox", "--log-format", "json")
        procs.append(spawn(name, command, tmp_path, env))
    by_name = {p.name: p for p in procs}
    wait_until(
        lambda: len(sampler.owners) == scale.accounts,
        f"all {scale.accounts} pipelines owned",
        timeout=60,
    )
    delivered: dict[str, list[bytes]] = {name: [] for name in names}
    total = scale.accounts * scale.per_account
    gap = scale.deliver_seconds / total
    victim: Proc | None = None
    killed_at: datetime | None = None
    victim_pipelines: list[str] = []
    started = time.monotonic()
    for n in range(scale.per_account):
        for name, user in zip(names, users, strict=True):
            raw = incoming(name, n)
            dovecot.seed(user, [raw])
            delivered[name].append(raw)
            time.sleep(gap)
        if victim is None and n + 1 >= scale.per_account // 2:
            owned = sampler.owned_by()
            victim_name, count = owned.most_common(1)[0]
            victim = by_name[victim_name]
            with sampler.lock:
                victim_pipelines = [f"p-{a}" for (a, _), o in sampler.owners.items() if o == victim_name]
            assert len(victim_pipelines) == count
            killed_at = datetime.now(UTC)
            victim.popen.send_signal(signal.SIGKILL)
            victim.popen.wait(10)
            print(f"\nA12: killed {victim_name} (owning {count} pipelines: {owned}) after {n + 1} rounds")
    assert victim is not None and killed_at is not None
    deliver_time = time.monotonic() - started

    for proc in procs:
        if proc is not victim:
            assert proc.popen.poll() is None, f"{proc.name} exited:\n{proc.log_tail()}"

    def takeover(pipeline: str) -> tuple[float, str] | None:
        with sampler.lock:
            after = [(at, runner) for at, runner in sampler.successes[pipeline] if at > killed_at]
        if not after:
            return None
        at, runner = after[0]
        return (at - killed_at).total_seconds(), runner

    wait_until(
        lambda: all(takeover(p) is not None for p in victim_pipelines),
        "the victim's pipelines taken over",
        timeout=max(bound.values()) + 60,
    )
    wait_until(lambda: count_incoming(postgres_url) >= total, f"{total} messages stored", timeout=120)
    time.sleep(1.0)  # a few more samples after the last store
    # what a user sees: every pipeline healthy, reported by the runner that owns it now
    shown = subprocess.run(
        mailconduit(config, postgres_url, "status", "--json"), capture_output=True, text=True, env=env
    )
    with sampler.lock:
        owners = {f"p-{a}": by_name[o].runner_id for (a, _), o in sampler.owners.items()}
    sampler.stop.set()
    sampling.join(10)
    survivors = [p for p in procs if p is not victim]
    exits = stop_all(survivors)

    assert sampler.error is None, repr(sampler.error)
    took = {p: takeover(p) for p in victim_pipelines}
    slowest = max((t for t, _ in filter(None, took.values())), default=0.0)
    rows = stored_incoming(postgres_url)
    print(
        f"A12: {scale.accounts} accounts x {scale.per_account} messages delivered in {deliver_time:.1f} s "
        f"to 4 runners; {sampler.samples} pg_locks samples ({sampler.run_lock_samples} run locks seen), "
        f"{len(sampler.violations)} with two holders; {len(victim_pipelines)} pipelines taken over, "
        f"slowest {slowest:.2f} s (bounds {min(bound.values()):g}-{max(bound.values()):g} s); "
        f"{len(rows)} stored"
    )
    for pipeline, (seconds, runner) in sorted((p, t) for p, t in took.items() if t is not None):
        print(f"A12:   {pipeline}: resumed by {runner} after {seconds:.2f} s (bound {bound[pipeline]:g} s)")

    assert exits == {p.name: 0 for p in survivors}, {p.name: p.log_tail() for p in procs}
    assert shown.returncode == 0, shown.stdout + shown.stderr
    report = json.loads(shown.stdout)
    assert report["healthy"] is True
    assert {p["name"]: (p["state"], p["runner"]) for p in report["pipelines"]} == {
        name: ("running", runner) for name, runner in owners.items()
    }
    assert sampler.samples >= 100 and sampler.run_lock_samples > 0, "the sampler saw the runners' locks"
    assert sampler.violations == []
    for pipeline, (seconds, runner) in ((p, t) for p, t in took.items() if t is not None):
        assert runner != victim.runner_id, pipeline
        assert seconds <= bound[pipeline], f"{pipeline} resumed after {seconds:.1f} s"
    # every delivered message stored exactly once, byte for byte, under its own account
    wanted = Counter((name, sha(raw)) for name, raws in delivered.items() for raw in raws)
    have = Counter((account, digest) for account, *_, digest in rows)
    assert wanted - have == Counter(), "lost"
    assert have - wanted == Counter(), "duplicated or foreign"
    server_keys = Counter((account, folder, validity, uid) for account, folder, validity, uid, _ in rows)
    assert max(server_keys.values()) == 1
    status = final_status(postgres_url)
    assert set(status) == set(interval)
    assert {state for state, _ in status.values()} == {"stopped"}  # by a runner that owned it then
    assert {runner for _, runner in status.values()} <= {p.runner_id for p in survivors}


def test_a12_four_runners_share_twenty_accounts_and_survive_a_sigkill(
    dovecot: DovecotServer, postgres_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    run_a12(
        Scale(accounts=20, per_account=10, deliver_seconds=20),
        dovecot=dovecot,
        postgres_url=postgres_url,
        tmp_path=tmp_path,
        procs=procs,
    )


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_a12_full_four_runners_twenty_accounts(
    dovecot: DovecotServer, postgres_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    run_a12(
        Scale(accounts=20, per_account=100, deliver_seconds=240),
        dovecot=dovecot,
        postgres_url=postgres_url,
        tmp_path=tmp_path,
        procs=procs,
    )


# ------------------------------------------------------------------------------------------ C4
def c4_config(port: int) -> str:
    account = {
        "email": "sender@example.test",
        "send": {
            "protocol": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "tls": "none",
            "ehlo_name": "worker.example.test",
            "timeout": "20s",
            "max_sessions": 1,
        },
    }
    return json.dumps({"accounts": {"sender": account}})


def queue_outgoing(config: Path, db_url: str, count: int) -> set[str]:
    """Queue ``count`` messages through the outbox; return their Message-IDs."""
    store = open_store(db_url)
    try:
        outbox = Outbox(store, load_config(config, PLUGINS), PLUGINS)
        for n in range(count):
            outbox.queue(
                "sender",
                Message(
                    to=[Address(f"rcpt{n % 50}@example.org")],
                    subject=f"C4 message {n}",
                    text=f"Body of message {n}.\n",
                ),
            )
        with store.session(readonly=True) as session:
            ids = session.scalars(
                select(MessageRow.header_message_id).where(MessageRow.direction == Direction.OUTGOING)
            ).all()
        return {i or "" for i in ids}
    finally:
        store.close()


def outgoing_rows(db_url: str) -> tuple[Counter[str], Counter[int], Counter[str]]:
    """(rows by status, rows by attempts, "sent" log lines by Message-ID)."""
    store = open_store(db_url)
    try:
        with store.session(readonly=True) as session:
            rows = session.execute(
                select(MessageRow.status, MessageRow.attempts).where(
                    MessageRow.direction == Direction.OUTGOING
                )
            ).all()
            texts = session.scalars(select(EmailLog.text)).all()
    finally:
        store.close()
    sent_lines = Counter(t.split(": ", 1)[0] for t in texts if ": sent: " in t)
    return Counter(str(s) for s, _ in rows), Counter(a for _, a in rows), sent_lines


def count_sent(db_url: str) -> int:
    store = open_store(db_url)
    try:
        with store.session(readonly=True) as session:
            query = select(func.count()).where(
                MessageRow.direction == Direction.OUTGOING, MessageRow.status == MessageStatus.SENT
            )
            return int(session.execute(query).scalar_one())
    finally:
        store.close()


def run_c4(
    count: int, *, smtp_server: SmtpServer, postgres_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    config = tmp_path / "mailconduit.yaml"
    config.write_text(c4_config(smtp_server.plain_port))
    upgrade(config, postgres_url)
    started = time.monotonic()
    expected = queue_outgoing(config, postgres_url, count)
    queued = time.monotonic() - started
    assert len(expected) == count

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    for k in range(8):
        command = mailconduit(config, named(postgres_url, f"worker{k}"), "run", "--log-format", "json")
        procs.append(spawn(f"worker{k}", command, tmp_path, env))
    first: float | None = None

    def progress() -> bool:
        nonlocal first
        if first is None and smtp_server.messages:
            first = time.monotonic()
        for proc in procs:
            assert proc.popen.poll() is None, f"{proc.name} exited:\n{proc.log_tail()}"
        return count_sent(postgres_url) >= count

    wait_until(progress, f"{count} messages sent", timeout=60 + count / 20, interval=0.2)
    done = time.monotonic()
    exits = stop_all(procs)

    received = Counter(str(message_from_bytes(m.data)["Message-ID"]) for m in smtp_server.messages)
    statuses, attempts, sent_lines = outgoing_rows(postgres_url)
    carrying = [s for s in smtp_server.sessions if "DATA" in s.commands()]
    first = first if first is not None else started
    print(
        f"\nC4: {count} messages queued on PostgreSQL in {queued:.1f} s; 8 `mailconduit run` workers "
        f"sent them in {done - started:.1f} s from start ({count / (done - started):.0f} msg/s), "
        f"{done - first:.1f} s from the first arrival ({count / max(done - first, 1e-9):.0f} msg/s); "
        f"{len(carrying)} SMTP sessions carried mail; duplicates at the server: "
        f"{sum(n - 1 for n in received.values() if n > 1)}"
    )
    assert exits == {p.name: 0 for p in procs}, {p.name: p.log_tail() for p in procs}
    assert set(received) == expected, "lost or foreign"
    assert max(received.values()) == 1, "sent twice"
    assert statuses == Counter({"sent": count})
    assert attempts == Counter({1: count})
    assert set(sent_lines) == expected and max(sent_lines.values()) == 1
    assert len(carrying) >= 2, "more than one worker sent"


def test_c4_eight_outbox_workers_send_each_message_once(
    smtp_server: SmtpServer, postgres_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    run_c4(2_000, smtp_server=smtp_server, postgres_url=postgres_url, tmp_path=tmp_path, procs=procs)


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_c4_full_eight_outbox_workers_ten_thousand(
    smtp_server: SmtpServer, postgres_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    run_c4(10_000, smtp_server=smtp_server, postgres_url=postgres_url, tmp_path=tmp_path, procs=procs)
