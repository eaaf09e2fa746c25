"""Benchmark RELIABILITY.md N2: 10,000 x 2 KB messages from Dovecot into SQLite, end to end.

Seeds a private Dovecot's Maildir directly (RELIABILITY.md: seed large fixtures by writing Maildir
files, not by APPEND) with ``--messages`` plain-text messages of about 2 KB each, then, in several
rounds, each contender in a fresh process:

* **run**: ``mailconduit --config FILE run --once --no-outbox --json`` on a new SQLite store
  (created beforehand by ``db upgrade``, not timed): one pipeline (``steps: [store]``) on an IMAP
  account with ``replicate_everything``; the whole process is timed (start-up, config, the
  replication, exit), every message must be stored, and the stored bytes are checked against the
  seeded ones by SHA-256 afterwards;
* **imaplib**: the baseline RELIABILITY.md quotes, a serial ``imaplib`` loop in its own process:
  LOGIN, SELECT, ``UID FETCH`` of 500 UIDs at a time (``BODY.PEEK[]``), bodies discarded.

It prints msg/s and the peak RSS of each process per round, then the medians and the ratio
(target: run >= 1,000 msg/s end to end). The machine is shared and noisy: compare the figures
of one run.

Run: ``.venv/bin/python bench/n2_throughput.py [--messages 10000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import hashlib
import imaplib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

SIZE = 2048
_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "as",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "from",
    "at",
    "or",
    "an",
    "have",
    "not",
    "which",
    "meeting",
    "report",
    "invoice",
    "shipment",
    "account",
    "quarter",
    "budget",
    "review",
    "project",
    "update",
    "schedule",
    "order",
]


def message(n: int, rng: random.Random) -> bytes:
    """Message ``n`` of the corpus: a plain-text message of exactly ``SIZE`` bytes (CRLF lines)."""
    when = format_datetime(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n))
    head = (
        f"Return-Path: <sender{n % 97}@example.test>\r\n"
        f"From: Sender {n % 97} <sender{n % 97}@example.test>\r\nTo: n2@example.test\r\n"
        f"Subject: {rng.choice(_WORDS).capitalize()} {rng.choice(_WORDS)} #{n}\r\nDate: {when}\r\n"
        f"Message-ID: <n2.{n}.{rng.getrandbits(40):x}@example.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    lines = []
    size = len(head)
    while size < SIZE - 80:
        line = " ".join(rng.choices(_WORDS, k=10)).encode() + b"\r\n"
        lines.append(line)
        size += len(line)
    body = b"".join(lines)
    pad = SIZE - len(head) - len(body) - 2
    return head + body + b"x" * max(pad, 0) + b"\r\n"


def corpus(count: int) -> Iterator[bytes]:
    """The benchmark's messages, the same on every run."""
    rng = random.Random(2)
    for n in range(count):
        yield message(n, rng)


# ---- the imaplib baseline runs in a child: ``--child imaplib --conf JSON`` ----


def child_imaplib(conf: dict[str, Any]) -> None:
    count = 0
    client = imaplib.IMAP4(conf["host"], conf["port"])
    client.login(conf["user"], conf["password"])
    client.select("INBOX", readonly=True)
    _, data = client.uid("SEARCH", "ALL")
    uids = (data[0] or b"").split()
    for start in range(0, len(uids), 500):
        chunk = b",".join(uids[start : start + 500]).decode()
        _, data = client.uid("FETCH", chunk, "(BODY.PEEK[])")
        count += sum(1 for item in data if isinstance(item, tuple))
    client.logout()
    print(json.dumps({"count": count}))


# ---- the parent: Dovecot, seeding, rounds ----


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run ``command``; return (wall seconds, peak RSS in KiB, its stdout)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if status != 0:
            raise SystemExit(
                f"{command[:4]} failed ({status}):\n{err.read().decode(errors='replace')[-3000:]}"
            )
        return seconds, usage.ru_maxrss, out.read().decode()


def config_yaml(db: Path, ca: Path, conf: dict[str, Any]) -> str:
    """One IMAP account replicating everything, one pipeline with the built-in store step."""
    return (
        f"database: sqlite:///{db}\n"
        "accounts:\n"
        "  n2:\n"
        "    email: n2@example.test\n"
        f"    ca_file: {ca}\n"
        f"    auth: {{method: password, username: {conf['user']}, password: '${{env:N2_PASSWORD}}'}}\n"
        f"    receive: {{protocol: imap, host: {conf['host']}, port: {conf['port']}, tls: none, "
        "replicate_everything: true, timeout: 60s}\n"
        "pipelines:\n"
        "  n2: {receive: n2, steps: [store]}\n"
    )


def check_store(db: Path, digests: set[str], count: int) -> None:
    """Every seeded message is stored once, byte for byte (SHA-256 of the stored raw bytes)."""
    from sqlalchemy import select

    from mailconduit._store import open_store
    from mailconduit._store._models import MessageRaw
    from mailconduit._store._repo_messages import raw_bytes_of

    store = open_store(f"sqlite:///{db}", create=False)  # large batches keep their bytes in segment files
    try:
        with store.session(readonly=True) as session:
            ids = list(session.scalars(select(MessageRaw.message_id)))
            got = [hashlib.sha256(raw).hexdigest() for raw in raw_bytes_of(session, ids).values()]
    finally:
        store.close()
    if len(got) != count or set(got) != digests:
        raise SystemExit(f"store check failed: {len(got)} rows, {len(set(got) & digests)} of {count} match")


def run_round(conf: dict[str, Any], ca: Path, digests: set[str], count: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-n2-"))
    try:
        db = work / "mail.db"
        config = work / "mailconduit.yaml"
        config.write_text(config_yaml(db, ca, conf))
        env = {**os.environ, "N2_PASSWORD": conf["password"]}
        command = [sys.executable, "-m", "mailconduit", "--config", str(config)]
        timed([*command, "db", "upgrade"], env)  # creating the store is set-up, not timed
        seconds, rss, stdout = timed([*command, "run", "--once", "--no-outbox", "--json"], env)
        stored = json.loads(stdout)["pipelines"]["n2"]["stored"]
        if stored != count:
            raise SystemExit(f"run --once stored {stored} of {count}")
        check_store(db, digests, count)
        out["run"] = {"seconds": seconds, "rss_kib": rss}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    child = [sys.executable, __file__, "--child", "imaplib", "--conf", json.dumps(conf)]
    seconds, rss, stdout = timed(child, dict(os.environ))
    if json.loads(stdout)["count"] != count:
        raise SystemExit(f"imaplib fetched {stdout.strip()}, not {count}")
    out["imaplib"] = {"seconds": seconds, "rss_kib": rss}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--conf", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_imaplib(json.loads(args.conf))
        return

    import trustme

    from mailconduit.testing import DovecotServer

    ca = trustme.CA()
    with DovecotServer(ca) as server:
        user = server.add_user()
        digests: set[str] = set()

        def hashed() -> Iterator[bytes]:
            for data in corpus(args.messages):
                digests.add(hashlib.sha256(data).hexdigest())
                yield data

        started = time.perf_counter()
        server.seed(user, hashed())
        print(
            f"seeded {len(digests)} messages of {SIZE} bytes into the Maildir in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        ca_file = Path(tempfile.mkdtemp(prefix="bench-n2-ca-")) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        conf = {"host": server.host, "port": server.imap_port, "user": user.name, "password": user.password}
        timed([sys.executable, __file__, "--child", "imaplib", "--conf", json.dumps(conf)], dict(os.environ))
        results: dict[str, list[dict[str, float]]] = {"run": [], "imaplib": []}
        for round_ in range(1, args.rounds + 1):
            got = run_round(conf, ca_file, digests, args.messages)
            load = os.getloadavg()[0]
            for name, figures in got.items():
                results[name].append(figures)
                print(
                    f"round {round_} {name:8s} {args.messages / figures['seconds']:7.0f} msg/s "
                    f"{figures['seconds']:6.2f} s  peak RSS {figures['rss_kib'] / 1024:5.0f} MB  "
                    f"(load {load:.1f})",
                    flush=True,
                )
        median = {name: statistics.median(r["seconds"] for r in rounds) for name, rounds in results.items()}
        print(f"\nmedians over {args.rounds} rounds, {args.messages} x {SIZE} bytes:")
        for name, rounds in results.items():
            peak = max(r["rss_kib"] for r in rounds) / 1024
            print(f"  {name:8s} {args.messages / median[name]:7.0f} msg/s  peak RSS {peak:5.0f} MB")
        rate = args.messages / median["run"]
        print(
            f"  run --once end to end: {rate:.0f} msg/s (target >= 1,000: "
            f"{'met' if rate >= 1000 else 'NOT met'}); time / imaplib fetch-only "
            f"{median['run'] / median['imaplib']:.2f}x"
        )


if __name__ == "__main__":
    main()
