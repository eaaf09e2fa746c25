"""Send 5,000 queued messages to Postfix's ``smtp-sink`` through the outbox, against two smtplib peers.

Three senders push the same pre-rendered messages (~0.9-2 KB each) to one ``smtp-sink`` on
127.0.0.1, in alternating rounds, and the medians and ratios are printed:

* **outbox**: ``Outbox.run(once=True)`` on a fresh SQLite store in a temp dir, the messages queued
  beforehand (composed at enqueue, as the outbox always does; enqueue time is reported apart and
  not counted), the account's ``max_sessions`` sessions, the default batch and mark settings;
* **naive**: one thread, one ``smtplib.SMTP`` connection per message (connect, EHLO, send, QUIT);
* **limit**: ``max_sessions`` threads, each one ``smtplib.SMTP`` session reused for its share of
  the messages, no store work at all (the wire limit on this machine).

Targets (issue 4): outbox >= 2x naive and >= 0.5x limit. ``smtp-sink`` comes from the ``postfix``
package (``/usr/sbin/smtp-sink``)::

    .venv/bin/python bench/smtp_outbox.py [--count 5000] [--rounds 3] [--sessions 4] [--profile FILE]

``--profile FILE`` writes a cProfile of one extra outbox round (``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import random
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mailconduit import Address, Message, load_plugins
from mailconduit._config import load_config
from mailconduit._outbox import Outbox
from mailconduit._outbox._compose_for_send import prepare
from mailconduit._store import open_store

SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def smtp_sink() -> Iterator[int]:
    """Run ``smtp-sink`` on a free loopback port (dropping root to ``nobody``); yield the port."""
    if not os.path.exists(SINK):
        sys.exit(f"{SINK} not found: install the postfix package (it provides smtp-sink)")
    port = free_port()
    command = [SINK]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]
    command += [f"127.0.0.1:{port}", "1000"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    sys.exit(f"smtp-sink did not start on port {port}: {err.strip()}")
                time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


def messages(count: int, seed: int = 7) -> list[Message]:
    """``count`` messages whose composed size lands between ~0.9 and ~2 KB."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        words = rng.randint(75, 250)
        text = " ".join(rng.choice(WORDS) for _ in range(words))
        lines = [text[i : i + 72] for i in range(0, len(text), 72)]
        out.append(
            Message(
                to=[Address(f"user{n}@example.org", "Recipient {n}")],
                subject=f"Bench message {n}",
                text="\n".join(lines) + "\n",
            )
        )
    return out


def config_for(port: int, sessions: int, db: Path) -> Any:
    """A config with one smtp account (no TLS, no AUTH) pointing at the sink."""
    account = {
        "email": "bench@example.test",
        "display_name": "Bench",
        "send": {
            "protocol": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "tls": "none",
            "ehlo_name": "bench.example.test",
            "max_sessions": sessions,
        },
    }
    return load_config({"database": f"sqlite:///{db}", "accounts": {"bench": account}}, PLUGINS)


PLUGINS = load_plugins()


def run_outbox(
    port: int, sessions: int, batch: list[Message], options: dict[str, Any], profile: str | None = None
) -> tuple[float, float, dict[str, int]]:
    """Queue ``batch`` on a fresh SQLite store, then drain it; return (enqueue s, send s, stats)."""
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
        db = Path(tmp) / "store.db"
        config = config_for(port, sessions, db)
        store = open_store(config.database)
        try:
            outbox = Outbox(store, config, PLUGINS, **options)
            start = time.perf_counter()
            for message in batch:
                outbox.queue("bench", message)
            enqueue = time.perf_counter() - start
            settle(store)
            profiler = cProfile.Profile() if profile else None
            start = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            stats = outbox.run(once=True)
            if profiler is not None:
                profiler.disable()
            elapsed = time.perf_counter() - start
            if profiler is not None and profile:
                profiler.dump_stats(profile)
            counts = {"sent": stats.sent, "failed": stats.failed, "retried": stats.retried}
            counts["sessions"] = stats.sessions
            if stats.sent != len(batch):
                sys.exit(f"outbox round sent {stats.sent} of {len(batch)}: {stats}")
            return enqueue, elapsed, counts
        finally:
            store.close()


def settle(store: Any) -> None:
    """Leave the enqueue's I/O behind before the drain is timed (it is not counted either).

    The 5,000 enqueue transactions leave up to a full WAL (1,000 pages of 64 KiB) waiting to be
    checkpointed and a few hundred MB of written pages waiting for the kernel's writeback; without
    this, the drain pays for both (checkpoints inside its commits, fsyncs queued behind writeback)
    and the figure swings with how far the writeback had got. The drain's own WAL and checkpoints
    are timed as usual. ``RESTART``, not ``TRUNCATE``: the WAL file keeps its size, as in a store
    that has been running a while, so the drain's commits overwrite it rather than grow it (an
    fdatasync that also has to commit a new file size costs about twice as much here).
    """
    with store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")
    os.sync()


def wire(batch: list[Message], port: int, sessions: int) -> list[tuple[str, list[str], bytes]]:
    """The same messages composed once (as the outbox does at enqueue): (from, recipients, bytes)."""
    with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
        account = config_for(port, sessions, Path(tmp) / "unused.db").account("bench")
    out = []
    for message in batch:
        prepared = prepare(account, message, now=_now(), transforms=[])
        out.append((prepared.envelope_from, list(prepared.recipients), prepared.raw))
    return out


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def run_naive(port: int, items: list[tuple[str, list[str], bytes]]) -> float:
    """One connection per message, one after the other; seconds."""
    start = time.perf_counter()
    for envelope_from, recipients, raw in items:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.example.test") as client:
            client.sendmail(envelope_from, recipients, raw)
    return time.perf_counter() - start


def run_limit(port: int, items: list[tuple[str, list[str], bytes]], sessions: int) -> float:
    """``sessions`` threads, each one reused smtplib session for its share; seconds."""
    shares = [items[i::sessions] for i in range(sessions)]
    errors: list[BaseException] = []

    def work(share: list[tuple[str, list[str], bytes]]) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.example.test") as client:
                for envelope_from, recipients, raw in share:
                    client.sendmail(envelope_from, recipients, raw)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        sys.exit(f"limit round failed: {errors[0]!r}")
    return elapsed


def main() -> None:
    """Run the rounds and print rates, medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=4, help="the account's max_sessions")
    parser.add_argument("--batch-size", type=int, help="Outbox(batch_size=...); default: the outbox's")
    parser.add_argument("--mark-batch", type=int, help="Outbox(mark_batch=...); default: the outbox's (4)")
    parser.add_argument("--profile", help="write a cProfile of one extra outbox round here")
    args = parser.parse_args()

    batch = messages(args.count)
    options: dict[str, Any] = {
        name: value
        for name, value in (("batch_size", args.batch_size), ("mark_batch", args.mark_batch))
        if value is not None
    }
    with smtp_sink() as port:
        items = wire(batch, port, args.sessions)
        sizes = [len(raw) for _f, _r, raw in items]
        print(
            f"{args.count} messages, {min(sizes)}-{max(sizes)} bytes "
            f"(median {statistics.median(sizes):.0f}), smtp-sink on 127.0.0.1:{port}, "
            f"max_sessions={args.sessions}, outbox options {options or 'default'}, "
            f"{os.cpu_count()} CPUs"
        )
        rates: dict[str, list[float]] = {"outbox": [], "naive": [], "limit": []}
        enqueue_rates: list[float] = []
        runners: dict[str, Callable[[], float]] = {
            "naive": lambda: run_naive(port, items),
            "limit": lambda: run_limit(port, items, args.sessions),
        }
        for number in range(args.rounds):
            order = ["outbox", "naive", "limit"] if number % 2 == 0 else ["limit", "naive", "outbox"]
            line = []
            for name in order:
                if name == "outbox":
                    enqueue, seconds, counts = run_outbox(port, args.sessions, batch, options)
                    enqueue_rates.append(args.count / enqueue)
                    extra = f" ({counts['sessions']} sessions)"
                else:
                    seconds, extra = runners[name](), ""
                rates[name].append(args.count / seconds)
                line.append(f"{name} {args.count / seconds:7.0f}/s{extra}")
            print(f"round {number + 1}: " + ", ".join(line))
        med = {name: statistics.median(values) for name, values in rates.items()}
        print(f"enqueue (not counted): median {statistics.median(enqueue_rates):.0f} messages/s")
        print(
            f"median messages/s: outbox {med['outbox']:.0f}, naive {med['naive']:.0f}, "
            f"limit {med['limit']:.0f}"
        )
        vs_naive, vs_limit = med["outbox"] / med["naive"], med["outbox"] / med["limit"]
        print(
            f"outbox / naive = {vs_naive:.2f}x (target >= 2x: {'met' if vs_naive >= 2 else 'NOT met'}); "
            f"outbox / limit = {vs_limit:.2f}x (target >= 0.5x: {'met' if vs_limit >= 0.5 else 'NOT met'})"
        )
        if args.profile:
            run_outbox(port, args.sessions, batch, options, profile=args.profile)
            print(f"profile of one outbox round written to {args.profile}")


if __name__ == "__main__":
    main()
