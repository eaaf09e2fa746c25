"""Benchmark: one ``Runner`` with 20 accounts receiving and sending at once, against a plain loop.

A private Dovecot holds 20 users, each seeded straight into its Maildir with ``--receive``
messages (plain text, 2-8 KB); an aiosmtpd server (the test kit's, in this parent process) takes
what is sent. Each contender runs in a fresh process with a fresh SQLite store, in several rounds:

* **runner**: a configuration of 20 accounts (IMAP receive with ``replicate_everything``, SMTP
  send, one session each) and 20 pipelines (``steps: [store]``); ``--send`` messages per account
  are queued first (composed at enqueue, as the outbox always does; not timed), then one
  ``mailconduit.Runner`` is started and runs every pipeline and the outbox worker at once until
  every seeded message is stored and every queued one sent. Timed from ``start()``: messages in
  per second (stored / time until the last was stored), out per second (sent / time until the
  last was sent), both together, and the process's peak RSS (VmHWM);
* **loop**: the same work done by a plain serial ``imaplib``/``smtplib`` loop in one thread:
  for each account LOGIN, SELECT, ``UID FETCH`` of 500 UIDs at a time into a SQLite table (WAL,
  synchronous=FULL, a commit per 500), then one ``smtplib`` session sending that account's
  messages, pre-rendered to bytes once before the clock starts (the outbox renders at enqueue too).

It prints each round, then the medians and the ratios runner / loop (in, out, and all the
work), and the peak RSS of each. Compare figures of one run only: the machine is shared.

Run: ``.venv/bin/python bench/runner_throughput.py [--accounts 20] [--receive 500] [--send 250]
[--rounds 3]``.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import random
import shutil
import smtplib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "report",
    "meeting",
    "order",
]


def incoming(account: int, n: int, rng: random.Random) -> bytes:
    """One seeded message: plain text, 2-8 KB."""
    when = format_datetime(datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=n))
    head = (
        f"From: Sender {n % 31} <sender{n % 31}@example.test>\r\nTo: acct{account}@example.test\r\n"
        f"Subject: Runner bench {account}/{n}\r\nDate: {when}\r\n"
        f"Message-ID: <rb.{account}.{n}.{rng.getrandbits(32):x}@example.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    size = rng.randint(2_000, 8_000)
    lines = []
    while sum(map(len, lines)) < size:
        lines.append(" ".join(rng.choices(_WORDS, k=11)) + "\r\n")
    return (head + "".join(lines)).encode()


def outgoing(account: int, count: int) -> list[dict[str, str]]:
    """The messages account ``account`` sends: recipient, subject, text (~1-2 KB composed)."""
    rng = random.Random(1000 + account)
    return [
        {
            "to": f"peer{n % 50}@example.org",
            "subject": f"Runner bench out {account}/{n}",
            "text": "\n".join(" ".join(rng.choices(_WORDS, k=12)) for _ in range(rng.randint(8, 20))) + "\n",
        }
        for n in range(count)
    ]


def _hwm_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


# ---- the contenders, each in a child process: ``--child NAME --conf JSON`` ----


def config_yaml(conf: dict[str, Any], db: Path) -> str:
    lines = [f"database: sqlite:///{db}", "accounts:"]
    for index, user in enumerate(conf["users"]):
        lines += [
            f"  a{index}:",
            f"    email: {user['name']}@example.test",
            f"    ca_file: {conf['ca_file']}",
            f"    auth: {{method: password, username: {user['name']}, password: '${{env:RB_PW_{index}}}'}}",
            f"    receive: {{protocol: imap, host: {conf['host']}, port: {conf['imap_port']}, tls: none, "
            "replicate_everything: true, subscribe: true, timeout: 60s}",
            f"    send: {{protocol: smtp, host: {conf['host']}, port: {conf['smtp_port']}, tls: none, "
            "timeout: 60s}",
        ]
    lines.append("pipelines:")
    lines += [f"  p{index}: {{receive: a{index}, steps: [store]}}" for index in range(len(conf["users"]))]
    return "\n".join(lines) + "\n"


def child_runner(conf: dict[str, Any]) -> dict[str, Any]:
    from sqlalchemy import func, select

    from mailconduit import Address, Message, load_plugins
    from mailconduit._config import load_config
    from mailconduit._message import MessageStatus
    from mailconduit._outbox import Outbox
    from mailconduit._runner import Runner
    from mailconduit._store import open_store
    from mailconduit._store._models import Direction, MessageRow

    work = Path(conf["dir"])
    config_file = work / "mailconduit.yaml"
    config_file.write_text(config_yaml(conf, work / "mail.db"))
    for index, user in enumerate(conf["users"]):
        os.environ[f"RB_PW_{index}"] = user["password"]
    plugins = load_plugins()
    config = load_config(config_file, plugins)
    store = open_store(config.database)
    outbox = Outbox(store, config, plugins)
    queued_at = time.perf_counter()
    for index in range(len(conf["users"])):
        for item in outgoing(index, conf["send"]):
            outbox.queue(
                f"a{index}",
                Message(to=[Address(item["to"])], subject=item["subject"], text=item["text"]),
            )
    enqueue = time.perf_counter() - queued_at
    want_in = conf["receive"] * len(conf["users"])
    want_out = conf["send"] * len(conf["users"])

    def counts() -> tuple[int, int]:
        with store.session(readonly=True) as session:
            query = select(MessageRow.direction, MessageRow.status, func.count()).group_by(
                MessageRow.direction, MessageRow.status
            )
            rows = {(d, s): n for d, s, n in session.execute(query)}
        received = rows.get((Direction.INCOMING, MessageStatus.RECEIVED), 0)
        return received, rows.get((Direction.OUTGOING, MessageStatus.SENT), 0)

    runner = Runner(config, store, plugins)
    started = time.perf_counter()
    runner.start()
    in_done = out_done = None
    try:
        deadline = started + conf["timeout"]
        while (in_done is None or out_done is None) and time.perf_counter() < deadline:
            received, sent = counts()
            now = time.perf_counter() - started
            if in_done is None and received >= want_in:
                in_done = now
            if out_done is None and sent >= want_out:
                out_done = now
            time.sleep(0.05)
    finally:
        runner.stop(timeout=60)
    received, sent = counts()
    store.close()
    if in_done is None or out_done is None:
        raise SystemExit(f"runner did not finish in {conf['timeout']} s: stored {received}, sent {sent}")
    return {
        "in": received,
        "out": sent,
        "in_seconds": in_done,
        "out_seconds": out_done,
        "seconds": max(in_done, out_done),
        "enqueue_seconds": enqueue,
        "hwm_kib": _hwm_kib(),
        "threads": threading.active_count(),
    }


def child_loop(conf: dict[str, Any]) -> dict[str, Any]:
    from mailconduit import Address, Message, load_plugins
    from mailconduit._config import load_config
    from mailconduit._outbox._compose_for_send import prepare

    work = Path(conf["dir"])
    config_file = work / "mailconduit.yaml"
    config_file.write_text(config_yaml(conf, work / "unused.db"))
    for index, user in enumerate(conf["users"]):
        os.environ[f"RB_PW_{index}"] = user["password"]
    config = load_config(config_file, load_plugins())
    rendered = []
    for index in range(len(conf["users"])):
        account = config.account(f"a{index}")
        now = datetime.now(UTC)
        rendered.append(
            [
                prepare(
                    account,
                    Message(to=[Address(item["to"])], subject=item["subject"], text=item["text"]),
                    now=now,
                    transforms=[],
                )
                for item in outgoing(index, conf["send"])
            ]
        )
    db = sqlite3.connect(work / "loop.db", isolation_level=None)
    db.execute("PRAGMA page_size = 65536")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, account TEXT, uid INTEGER, raw BLOB)")
    received = sent = 0
    started = time.perf_counter()
    for index, user in enumerate(conf["users"]):
        client = imaplib.IMAP4(conf["host"], conf["imap_port"])
        client.login(user["name"], user["password"])
        client.select("INBOX", readonly=True)
        _, data = client.uid("SEARCH", "ALL")
        uids = (data[0] or b"").split()
        for at in range(0, len(uids), 500):
            _, data = client.uid("FETCH", b",".join(uids[at : at + 500]).decode(), "(UID BODY.PEEK[])")
            rows = [
                (f"a{index}", int(item[0].split(b"UID ")[1].split()[0]), item[1])
                for item in data
                if isinstance(item, tuple)
            ]
            db.execute("BEGIN")
            db.executemany("INSERT INTO messages (account, uid, raw) VALUES (?, ?, ?)", rows)
            db.execute("COMMIT")
            received += len(rows)
        client.logout()
    in_seconds = time.perf_counter() - started
    for batch in rendered:
        with smtplib.SMTP(conf["host"], conf["smtp_port"], local_hostname="bench.example.test") as smtp:
            for prepared in batch:
                smtp.sendmail(prepared.envelope_from, list(prepared.recipients), prepared.raw)
                sent += 1
    seconds = time.perf_counter() - started
    db.close()
    return {
        "in": received,
        "out": sent,
        "in_seconds": in_seconds,
        "out_seconds": seconds - in_seconds,
        "seconds": seconds,
        "hwm_kib": _hwm_kib(),
    }


CHILDREN = {"runner": child_runner, "loop": child_loop}


def run_child(name: str, conf: dict[str, Any]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-runner-{name}-"))
    try:
        command = [
            sys.executable,
            __file__,
            "--child",
            name,
            "--conf",
            json.dumps({**conf, "dir": str(work)}),
        ]
        out = subprocess.run(command, check=True, capture_output=True, text=True)
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{name} failed:\n{exc.stderr[-4000:]}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--receive", type=int, default=500, help="messages seeded per account")
    parser.add_argument("--send", type=int, default=250, help="messages queued per account")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--conf", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](json.loads(args.conf))))
        return

    import trustme

    from mailconduit._testing.ca import issue_server_cert
    from mailconduit._testing.smtp import SmtpServer
    from mailconduit.testing import DovecotServer

    ca = trustme.CA()
    certs = Path(tempfile.mkdtemp(prefix="bench-runner-ca-"))
    ca_file = certs / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with DovecotServer(ca) as dovecot, SmtpServer(issue_server_cert(ca, certs)) as smtp:
        users = [dovecot.add_user(prefix="rb") for _ in range(args.accounts)]
        for user in users:  # the accounts log in to SMTP with their IMAP credentials
            smtp.recorder.users[user.name] = user.password
        started = time.perf_counter()
        for index, user in enumerate(users):
            rng = random.Random(index)
            dovecot.seed(user, (incoming(index, n, rng) for n in range(args.receive)))
        print(
            f"seeded {args.accounts} x {args.receive} messages in {time.perf_counter() - started:.1f} s; "
            f"{args.accounts} x {args.send} to send",
            flush=True,
        )
        conf = {
            "host": "127.0.0.1",
            "imap_port": dovecot.imap_port,
            "smtp_port": smtp.plain_port,
            "ca_file": str(ca_file),
            "users": [{"name": u.name, "password": u.password} for u in users],
            "receive": args.receive,
            "send": args.send,
            "timeout": args.timeout,
        }
        results: dict[str, list[dict[str, Any]]] = {"runner": [], "loop": []}
        for round_ in range(1, args.rounds + 1):
            for name, rounds in results.items():
                got = run_child(name, conf)
                rounds.append(got)
                print(
                    f"round {round_} {name:6s} in {got['in'] / got['in_seconds']:6.0f} msg/s "
                    f"out {got['out'] / got['out_seconds']:6.0f} msg/s  all "
                    f"{(got['in'] + got['out']) / got['seconds']:6.0f} msg/s in {got['seconds']:6.2f} s  "
                    f"peak RSS {got['hwm_kib'] / 1024:5.0f} MB  (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
        rate: dict[str, dict[str, float]] = {}
        for name, rounds in results.items():
            rate[name] = {
                "in": statistics.median(r["in"] / r["in_seconds"] for r in rounds),
                "out": statistics.median(r["out"] / r["out_seconds"] for r in rounds),
                "all": statistics.median((r["in"] + r["out"]) / r["seconds"] for r in rounds),
                "rss": max(r["hwm_kib"] for r in rounds) / 1024,
            }
        total_in, total_out = args.accounts * args.receive, args.accounts * args.send
        print(
            f"\nmedians over {args.rounds} rounds, {total_in} in, {total_out} out, {args.accounts} accounts:"
        )
        for name, figures in rate.items():
            print(
                f"  {name:6s} in {figures['in']:6.0f} msg/s  out {figures['out']:6.0f} msg/s  "
                f"all {figures['all']:6.0f} msg/s  peak RSS {figures['rss']:5.0f} MB"
            )
        ratios = "  ".join(
            f"{key} {rate['runner'][key] / rate['loop'][key]:.2f}x" for key in ("in", "out", "all")
        )
        print(f"  runner / loop: {ratios}")
        enqueue = statistics.median(r["enqueue_seconds"] for r in results["runner"])
        print(f"  (runner: queuing {total_out} messages beforehand took {enqueue:.1f} s, not counted)")


if __name__ == "__main__":
    main()
