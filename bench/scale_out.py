"""Benchmark: outbox throughput with 1, 2, 4 and 8 ``mailconduit run`` worker processes on PostgreSQL.

RELIABILITY.md C4 records the throughput of eight workers sharing one queue (``FOR UPDATE SKIP
LOCKED`` claims with leases). For each worker count, a fresh database on a private PostgreSQL
cluster (the test harness's) gets ``--count`` queued messages (~0.9-2 KB, composed at enqueue as
the outbox always does; not timed), then that many ``mailconduit run`` processes (a configuration
without pipelines: each runs only its outbox worker, one SMTP session) drain it into Postfix's
``smtp-sink``. Reported per round: seconds from the first message marked sent to the last (the
drain; process start-up left out), messages/s, and the ratio to one worker. Exactly-once is the
test's business (tests/test_scale_out.py); here the sent count must simply reach ``--count``::

    .venv/bin/python bench/scale_out.py [--count 5000] [--workers 1,2,4,8] [--rounds 2]

Needs PostgreSQL (``apt-get install postgresql``) and ``smtp-sink`` (the ``postfix`` package).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mailconduit import load_plugins
from mailconduit._config import load_config
from mailconduit._outbox import Outbox
from mailconduit._store import open_store
from mailconduit._store._models import Direction, MessageRow

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smtp_outbox import messages, smtp_sink


@contextmanager
def postgres() -> Iterator[Any]:
    """The test harness's private PostgreSQL cluster, outside pytest."""
    from mailconduit._testing.postgres import postgres_server

    generator = postgres_server.__wrapped__()  # type: ignore[attr-defined]
    try:
        yield next(generator)
    finally:
        generator.close()


def config_text(port: int) -> str:
    """One sending account pointing at the sink; no pipelines."""
    send = {"protocol": "smtp", "host": "127.0.0.1", "port": port, "tls": "none", "max_sessions": 1}
    return json.dumps({"accounts": {"bench": {"email": "bench@example.test", "send": send}}})


def sent(url: str) -> int:
    """How many outgoing rows are marked sent."""
    store = open_store(url)
    try:
        with store.session(readonly=True) as session:
            query = select(func.count()).where(
                MessageRow.direction == Direction.OUTGOING, MessageRow.status == "sent"
            )
            return int(session.execute(query).scalar_one())
    finally:
        store.close()


def one_round(server: Any, config: Path, workers: int, count: int, name: str) -> float:
    """Queue ``count`` messages in a new database, drain them with ``workers`` processes.

    Returns the seconds from the first message marked sent to the last.
    """
    url = server.create_database(name)
    command = [sys.executable, "-m", "mailconduit", "--config", str(config), "--db", url]
    subprocess.run([*command, "db", "upgrade"], check=True, capture_output=True)
    store = open_store(url)
    try:
        plugins = load_plugins()
        outbox = Outbox(store, load_config(config, plugins), plugins)
        for message in messages(count):
            outbox.queue("bench", message)
    finally:
        store.close()
    procs = [
        subprocess.Popen([*command, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    try:
        first = last = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = sent(url)
            now = time.monotonic()
            if first is None and done:
                first = now
            if done >= count:
                last = now
                break
            time.sleep(0.05)
        if first is None or last is None:
            raise SystemExit(f"{workers} workers did not send {count} messages within 600 s")
        return last - first
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
        server.drop_database(name)


def main() -> None:
    """Parse the options, run the rounds, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    results: dict[int, list[float]] = {w: [] for w in counts}
    with tempfile.TemporaryDirectory() as tmp, smtp_sink() as port, postgres() as server:
        config = Path(tmp) / "mailconduit.yaml"
        config.write_text(config_text(port))
        for round_ in range(args.rounds):
            for workers in counts:
                seconds = one_round(
                    server, config, workers, args.count, f"bench_{os.getpid()}_{round_}_{workers}"
                )
                results[workers].append(seconds)
                print(f"round {round_ + 1}: {workers} workers: {args.count / seconds:.0f} msg/s", flush=True)
    print(f"\n{args.count} messages, smtp-sink, PostgreSQL, {os.cpu_count()} CPUs, median of {args.rounds}:")
    base = args.count / statistics.median(results[counts[0]])
    for workers in counts:
        rate = args.count / statistics.median(results[workers])
        print(f"  {workers} worker(s): {rate:7.0f} msg/s  ({rate / base:.2f}x {counts[0]} worker(s))")


if __name__ == "__main__":
    main()
