"""RELIABILITY.md N1 (shortened): ``mailconduit run`` soaks with several accounts, mail in and out, faults.

One real ``mailconduit run`` process; six accounts on Dovecot, each behind its own
:class:`LiveFaultProxy` (three pipelines on IDLE, three polling every 3 s); every account also
sends through the outbox to aiosmtpd behind another proxy. For 2 minutes (``-m long``: 1 hour)
the test delivers ~2 messages a second (APPEND straight to Dovecot), queues ~1 a second to
send, and strikes a random fault every ~20 s: an RST, a blackhole or an outage of one
account's IMAP connection, or an RST of the live SMTP sessions.

Asserted: 0 incoming lost or duplicated (byte-exact), 0 outgoing lost (each at aiosmtpd and
``sent`` in the store), the process's open file descriptors constant (±5 of their median after a
30 s warm-up), exit 0 on SIGTERM. Printed: RSS after warm-up and at the end, the fd range, the
p99 arrival->stored latency, outgoing duplicates (a cut between the server's 250 and our
reading it may send one twice; RELIABILITY.md C-series bounds that, N1 counts it).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailconduit import Address, Message, load_config, load_plugins
from mailconduit._message import MessageStatus
from mailconduit._outbox import Outbox
from mailconduit._store import open_store
from mailconduit._testing._procs import wait_until
from mailconduit.testing import DovecotServer, Fault, SmtpServer
from tests._runner_helpers import (
    AccountSpec,
    Appender,
    LiveFaultProxy,
    check_incoming_converged,
    message,
    passwords,
    percentile,
    runner_yaml,
    stored_by_subject,
)
from tests.test_runner_signals import outgoing_states

pytestmark = pytest.mark.servers

ACCOUNTS = 6
KINDS = ("rst", "blackhole", "outage", "smtp")
WARM_UP = 30.0


def proc_status(pid: int) -> tuple[int, int]:
    """(VmRSS in bytes, open fds) of process ``pid``."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def _soak(
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    ca_pem: Path,
    tmp_path: Path,
    *,
    seconds: float,
    seed: int,
) -> None:
    rng = random.Random(seed)
    offset = rng.randrange(len(KINDS))
    smtp_proxy = LiveFaultProxy(smtp_server.starttls_port).start()
    proxies, specs, appenders = [], [], []
    for i in range(ACCOUNTS):
        user = dovecot.add_user()
        smtp_server.add_user(user.name, user.password)
        proxy = LiveFaultProxy(dovecot.imap_port).start()
        idle = i % 2 == 0
        receive = {"idle_refresh": "10s", "poll_every": "1h"} if idle else {"poll_every": "3s"}
        proxies.append(proxy)
        specs.append(AccountSpec(f"a{i}", user, proxy.port, receive=receive, send_port=smtp_proxy.port))
        appenders.append(Appender(dovecot.imap_port, user))
    pipelines = {f"p{i}": {"receive": f"a{i}", "subscribe": i % 2 == 0} for i in range(ACCOUNTS)}
    env = passwords(specs)
    db = tmp_path / "mc.db"
    config_file = tmp_path / "mailconduit.yaml"
    config_file.write_text(runner_yaml(db, ca_pem, specs, pipelines))
    from mailconduit._cli import cli

    assert CliRunner().invoke(cli, ["--config", str(config_file), "db", "upgrade"], env=env).exit_code == 0
    plugins = load_plugins()
    config = load_config(config_file, plugins, environ=env)
    store = open_store(config.database)
    outbox = Outbox(store, config, plugins)
    log = tmp_path / "run.log"
    handle = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailconduit", "--config", str(config_file), "run", "--log-format", "json"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=handle,
    )
    incoming: dict[str, bytes] = {}
    outgoing: list[str] = []
    faults: list[str] = []
    samples: list[tuple[float, int, int]] = []
    try:
        start = time.time()
        next_in, next_out, next_fault, next_sample = start, start, start + rng.uniform(15, 25), start
        heal: list[tuple[float, LiveFaultProxy]] = []
        n = 0
        while (now := time.time()) < start + seconds:
            assert proc.poll() is None, f"the runner exited ({proc.returncode})"
            if now >= next_sample:
                samples.append((now - start, *proc_status(proc.pid)))
                next_sample += 2.0
            for at, proxy in [h for h in heal if h[0] <= now]:
                proxy.heal()
                heal.remove((at, proxy))
            if now >= next_in:
                i = rng.randrange(ACCOUNTS)
                subject = f"n1 {n}"
                incoming[subject] = message("n1", n, size=rng.randint(500, 20_000))
                appenders[i].append(subject, incoming[subject])
                n += 1
                next_in += rng.expovariate(2.0)
            if now >= next_out:
                subject = f"out {len(outgoing)}"
                outgoing.append(subject)
                to = [Address(f"to{len(outgoing)}@example.test")]
                outbox.queue(f"a{rng.randrange(ACCOUNTS)}", Message(to=to, subject=subject, text="soak\n"))
                next_out += rng.expovariate(1.0)
            if now >= next_fault:
                kind = KINDS[(len(faults) + offset) % len(KINDS)]  # every kind, in turn
                if kind == "smtp":
                    smtp_proxy.strike("rst")
                else:
                    i = rng.randrange(ACCOUNTS)
                    if kind == "outage":
                        proxies[i].set_fault(Fault.blackhole(0))
                        heal.append((now + rng.uniform(3, 6), proxies[i]))
                    proxies[i].strike("blackhole" if kind == "outage" else kind)
                    kind = f"{kind} a{i}"
                faults.append(f"{now - start:.0f}s {kind}")
                next_fault += rng.uniform(15, 25)
            time.sleep(max(0.0, min(next_in, next_out, next_fault, next_sample) - time.time()))
        for proxy in proxies:
            proxy.heal()

        def drained() -> bool:
            states = outgoing_states(store)
            return len(stored_by_subject(store)) >= len(incoming) and states[MessageStatus.SENT] >= len(
                outgoing
            )

        wait_until(drained, "every message stored and sent", timeout=90, interval=0.5)
        samples.append((time.time() - start, *proc_status(proc.pid)))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        handle.close()
        for appender in appenders:
            appender.close()
        for proxy in [*proxies, smtp_proxy]:
            proxy.stop()
    try:
        check_incoming_converged(store, incoming.values())
        rows = stored_by_subject(store)
        states = outgoing_states(store)
    finally:
        store.close()
    delivered = {s: t for a in appenders for s, t in a.delivered.items()}
    latency = [rows[s][0].created_at.timestamp() - t for s, t in delivered.items()]
    received = Counter(
        m.data.split(b"\r\nSubject: ", 1)[1].split(b"\r\n", 1)[0].decode() for m in smtp_server.messages
    )
    lost = [s for s in outgoing if not received[s]]
    warm = [s for s in samples if s[0] >= WARM_UP]
    fds = [s[2] for s in warm]
    median = statistics.median(fds)
    rss_start, rss_end = warm[0][1], warm[-1][1]
    print(
        f"\nN1: {seconds:.0f} s, {ACCOUNTS} accounts, {len(incoming)} in, {len(outgoing)} out, "
        f"{len(faults)} faults ({', '.join(faults)}); arrival->stored p50 {percentile(latency, 0.5):.2f} s, "
        f"p99 {percentile(latency, 0.99):.2f} s, max {max(latency):.2f} s; outgoing duplicates "
        f"{sum(c - 1 for c in received.values() if c > 1)}; RSS after warm-up {rss_start / 2**20:.1f} MiB, "
        f"at the end {rss_end / 2**20:.1f} MiB ({(rss_end - rss_start) / rss_start:+.1%}); open fds "
        f"{min(fds)}..{max(fds)} (median {median:g}) over {len(fds)} samples"
    )
    assert faults
    assert not lost, f"{len(lost)} outgoing messages never reached the server: {lost[:5]}"
    assert states == Counter({MessageStatus.SENT: len(outgoing)}), states
    assert all(abs(f - median) <= 5 for f in fds), f"open fds drifted: {fds}"
    text = log.read_text(errors="replace")
    assert all(spec.user.password not in text for spec in specs)


@pytest.mark.timeout(300)
def test_n1_soak_for_2_minutes_six_accounts_mail_in_and_out_random_faults(
    dovecot: DovecotServer, smtp_server: SmtpServer, ca_pem: Path, tmp_path: Path
) -> None:
    _soak(dovecot, smtp_server, ca_pem, tmp_path, seconds=120.0, seed=1)


@pytest.mark.long
@pytest.mark.timeout(4200)
def test_n1_soak_for_an_hour(
    dovecot: DovecotServer, smtp_server: SmtpServer, ca_pem: Path, tmp_path: Path
) -> None:
    _soak(dovecot, smtp_server, ca_pem, tmp_path, seconds=3600.0, seed=11)
