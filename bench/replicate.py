"""Benchmark: ``replicate(..., everything=True)`` from a local Dovecot into SQLite, against its peers.

Seeds 10,000 messages (about 630 MB: 90 % text of 2-20 KB, 10 % with attachments up to 2 MB, some
RFC 2047 headers and 8-bit bodies; generated deterministically) straight into a private Dovecot's
Maildir, then, in the same run and several rounds, each contender in its own process, plain IMAP on
loopback, one connection:

* raw: one socket, LOGIN, SELECT, one ``UID FETCH 1:* (BODY.PEEK[])``, bodies discarded (the limit);
* mailconduit: ``mailconduit.replicate(account, everything=True)`` into a new SQLite store (the code
  ``mailconduit fetch --all`` runs), every message stored, byte-exact;
* imap-tools: ``MailBoxUnencrypted.fetch(bulk=500, mark_seen=False)`` (which parses with ``email``),
  subject/from/date/Message-ID and attachment metadata (size, sha256) read, the message and its
  fields inserted into a SQLite table with the store's settings (WAL, synchronous=FULL, 64 KiB
  pages), committed per 500;
* mbsync: ``mbsync`` (isync) pulling INBOX into a new Maildir with its default ``FSync yes``.

It prints msg/s, MB/s and the peak RSS (the process's VmHWM) per round, the medians, and the
ratios the issue's targets are about (mailconduit time / raw time <= 3.3, imap-tools time /
mailconduit time >= 5, mbsync time / mailconduit time > 1). Last, one 50 MB message is replicated in
a fresh process and its peak memory growth (VmHWM after minus VmHWM before the run) is compared with
the message's size (target: under 2x).

Run: ``.venv/bin/python bench/replicate.py [--messages 10000] [--rounds 3] [--big-mb 50]``.
``--baseline-src DIR`` adds the same ``replicate`` run from another checkout (``git worktree add
--detach DIR COMMIT``) to every round, so a change is measured before/after in one run.
Needs Dovecot (the test harness's), ``mbsync`` (``apt-get install isync``) and ``imap-tools``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")
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
    "customer",
    "order",
    "delivery",
    "contract",
    "payment",
    "release",
    "server",
    "backup",
    "network",
    "printer",
    "office",
    "holiday",
    "training",
]
_UMLAUTS = "Grüße aus Köln, Straße, Æbleskiver, café, naïve, Øresund, Ελληνικά, Русский, 日本語のテキスト"
_NAMES = ["Jürgen Müller", "Zoë Ångström", "José Núñez", "Søren Kierkegaard", "李小龙", "Anna Smith"]


def _pool(rng: random.Random, eight_bit: bool) -> list[str]:
    lines = []
    for _ in range(400):
        words = rng.choices(_WORDS, k=rng.randint(8, 13))
        if eight_bit and rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(_UMLAUTS.split(", ")))
        lines.append(" ".join(words).capitalize() + ".")
    return lines


def _encoded_word(text: str, rng: random.Random) -> str:
    data = text.encode()
    if rng.random() < 0.5:
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    quoted = "".join(chr(b) if 48 <= b < 123 and b not in (61, 63, 95) else f"={b:02X}" for b in data)
    return f"=?utf-8?q?{quoted}?="


def make_message(n: int, rng: random.Random, pools: tuple[list[str], list[str]]) -> bytes:
    """One message of the corpus (its kind, size and content drawn from ``rng``)."""
    attach = n % 10 == 7
    eight_bit = rng.random() < 0.2
    subject = f"{rng.choice(_WORDS).capitalize()} {rng.choice(_WORDS)} #{n}"
    sender = f"user{rng.randrange(500)}@example{rng.randrange(20)}.test"
    if rng.random() < 0.2:
        subject = f"{_encoded_word(rng.choice(_UMLAUTS.split(', ')) + ' ' + subject, rng)}"
        display = _encoded_word(rng.choice(_NAMES), rng)
    else:
        display = f'"{rng.choice(["Anna", "Bob", "Carol", "Dave"])} {rng.choice(["Lee", "Ng", "Diaz"])}"'
    when = format_datetime(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=7 * n))
    head = (
        f"Return-Path: <{sender}>\r\n"
        f"Received: from mx{n % 7}.example.test (mx{n % 7}.example.test [192.0.2.{n % 250}])\r\n"
        f"\tby mail.example.test with ESMTPS id {n:08x}; {when}\r\n"
        f"From: {display} <{sender}>\r\nTo: bench@example.test\r\nSubject: {subject}\r\n"
        f"Date: {when}\r\nMessage-ID: <{n}.{rng.getrandbits(48):x}@example.test>\r\nMIME-Version: 1.0\r\n"
    )
    lines = pools[1] if eight_bit else pools[0]
    cte = "8bit" if eight_bit else "7bit"
    text_size = rng.randint(2_000, 20_000)
    body = []
    size = 0
    while size < text_size - len(head):
        line = rng.choice(lines)
        body.append(line)
        size += len(line.encode()) + 2
    text = "\r\n".join(body).encode() + b"\r\n"
    if not attach:
        return (
            head + f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        ).encode() + text
    boundary = f"=_b{n:06d}"
    parts = [
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n".encode()
        + text[:3000]
    ]
    total = max(8_000, int(2_000_000 * rng.random() ** 2.85))
    count = rng.randint(1, 3)
    for index in range(count):
        kind, ext = rng.choice(
            [("application/pdf", "pdf"), ("image/jpeg", "jpg"), ("application/zip", "zip")]
        )
        content = rng.randbytes(max(1_000, total * 3 // 4 // count))
        encoded = base64.encodebytes(content).replace(b"\n", b"\r\n")
        name = f"file-{n}-{index}.{ext}"
        parts.append(
            f'--{boundary}\r\nContent-Type: {kind}; name="{name}"\r\nContent-Transfer-Encoding: base64\r\n'
            f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'.encode()
            + encoded
        )
    return (
        (head + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n').encode()
        + b"".join(parts)
        + f"--{boundary}--\r\n".encode()
    )


def corpus(count: int, seed: int = 5) -> Iterator[bytes]:
    """The benchmark's messages, the same on every run."""
    rng = random.Random(seed)
    pools = (_pool(rng, False), _pool(rng, True))
    for n in range(count):
        yield make_message(n, rng, pools)


def big_message(megabytes: int) -> bytes:
    """One message of about ``megabytes`` MB: a short text part and one base64 attachment."""
    content = random.Random(9).randbytes(megabytes * 1_000_000 * 3 // 4)
    return (
        b"From: big@example.test\r\nTo: bench@example.test\r\nSubject: big\r\n"
        b"Message-ID: <big@example.test>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="xx"\r\n\r\n'
        b"--xx\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--xx\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="big.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(content).replace(b"\n", b"\r\n")
        + b"--xx--\r\n"
    )


# ---- the contenders, each run in a child process: ``--child NAME --conf JSON`` ----


def _hwm_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def child_raw(conf: dict[str, Any]) -> tuple[int, int]:
    sock = socket.create_connection((conf["host"], conf["port"]))
    file = sock.makefile("rb", buffering=1 << 20)

    def command(line: bytes, tag: bytes) -> tuple[int, int]:
        sock.sendall(tag + b" " + line + b"\r\n")
        count = total = 0
        while True:
            got = file.readline()
            if got.startswith(tag + b" "):
                return count, total
            match = _LITERAL.search(got)
            if match:
                size = left = int(match.group(1))
                while left:
                    left -= len(file.read(min(left, 1 << 20)))
                count += 1
                total += size

    file.readline()
    command(f'LOGIN {conf["user"]} "{conf["password"]}"'.encode(), b"a1")
    command(b"SELECT INBOX", b"a2")
    result = command(b"UID FETCH 1:* (BODY.PEEK[])", b"a3")
    sock.close()
    return result


def _account(conf: dict[str, Any]) -> Any:
    from mailconduit import Account, PasswordAuth, Secret, TlsMode
    from mailconduit_imap import ImapSettings

    return Account(
        name="bench",
        email="bench@example.test",
        ca_file=conf["ca_file"],
        auth=PasswordAuth(username=conf["user"], password=Secret(conf["password"])),
        receive=ImapSettings(
            protocol="imap",
            host=conf["host"],
            port=conf["port"],
            tls=TlsMode.NONE,
            timeout=timedelta(seconds=120),
            max_message_size=200_000_000,
        ),
    )


def child_mailconduit(conf: dict[str, Any]) -> tuple[int, int]:
    from mailconduit import load_plugins, replicate
    from mailconduit._store import open_store

    store = open_store(f"sqlite:///{conf['dir']}/mail.db")
    plugins = load_plugins()
    account = _account(conf)
    before = _hwm_kib()
    started = time.perf_counter()
    result = replicate(account, store=store, plugins=plugins, everything=True)
    conf["seconds"] = time.perf_counter() - started
    conf["growth_kib"] = _hwm_kib() - before
    assert result.failed == 0 and result.remaining == 0, result
    from sqlalchemy import func, select

    from mailconduit._store._models import MessageRow

    with store.session(readonly=True) as session:
        total = session.scalar(select(func.sum(MessageRow.size))) or 0
    store.close()
    return result.stored, int(total)


_SQL = """CREATE TABLE messages (id INTEGER PRIMARY KEY, uid INTEGER, message_id TEXT, subject TEXT,
from_ TEXT, date TEXT, size INTEGER, raw BLOB);
CREATE TABLE attachments (message INTEGER, filename TEXT, content_type TEXT, size INTEGER, sha256 TEXT)"""


def child_imap_tools(conf: dict[str, Any]) -> tuple[int, int]:
    import hashlib
    import sqlite3

    from imap_tools import MailBoxUnencrypted

    db = sqlite3.connect(f"{conf['dir']}/imap_tools.db", isolation_level=None)
    db.execute("PRAGMA page_size = 65536")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.executescript(_SQL)
    count = total = 0
    with MailBoxUnencrypted(conf["host"], conf["port"]).login(conf["user"], conf["password"], "INBOX") as box:
        db.execute("BEGIN")
        for msg in box.fetch(mark_seen=False, bulk=500):
            raw = msg.obj.as_bytes()
            cur = db.execute(
                "INSERT INTO messages (uid, message_id, subject, from_, date, size, raw) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    msg.uid,
                    msg.headers.get("message-id", ("",))[0],
                    msg.subject,
                    msg.from_,
                    msg.date_str,
                    len(raw),
                    raw,
                ),
            )
            for att in msg.attachments:
                db.execute(
                    "INSERT INTO attachments VALUES (?,?,?,?,?)",
                    (
                        cur.lastrowid,
                        att.filename,
                        att.content_type,
                        att.size,
                        hashlib.sha256(att.payload).hexdigest(),
                    ),
                )
            count += 1
            total += len(raw)
            if count % 500 == 0:
                db.execute("COMMIT")
                db.execute("BEGIN")
        db.execute("COMMIT")
    db.close()
    return count, total


def run_mbsync(conf: dict[str, Any]) -> dict[str, Any]:
    root = Path(conf["dir"])
    (root / "mail").mkdir()
    config = root / "mbsyncrc"
    config.write_text(
        f"IMAPAccount bench\nHost {conf['host']}\nPort {conf['port']}\nUser {conf['user']}\n"
        f'Pass "{conf["password"]}"\nSSLType None\nAuthMechs LOGIN\n\n'
        "IMAPStore remote\nAccount bench\n\n"
        f"MaildirStore local\nPath {root}/mail/\nInbox {root}/mail/INBOX\n\n"
        "Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSync Pull\n"
        f"SyncState {root}/state/\n"
    )
    (root / "state").mkdir()
    started = time.perf_counter()
    proc = subprocess.Popen(["mbsync", "-q", "-c", str(config), "bench"], stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"mbsync failed ({status}): {err}")
    files = [p for sub in ("cur", "new") for p in (root / "mail" / "INBOX" / sub).iterdir()]
    total = sum(p.stat().st_size + p.read_bytes().count(b"\n") for p in files)  # CRLF size
    return {"count": len(files), "bytes": total, "seconds": seconds, "hwm_kib": usage.ru_maxrss}


CHILDREN: dict[str, Callable[[dict[str, Any]], tuple[int, int]]] = {
    "raw": child_raw,
    "mailconduit": child_mailconduit,
    "imap-tools": child_imap_tools,
}


def child_main(name: str, conf: dict[str, Any]) -> None:
    started = time.perf_counter()
    count, total = CHILDREN[name](conf)
    seconds = conf.get("seconds", time.perf_counter() - started)
    print(
        json.dumps(
            {
                "count": count,
                "bytes": total,
                "seconds": seconds,
                "hwm_kib": _hwm_kib(),
                "growth_kib": conf.get("growth_kib", 0),
            }
        )
    )


BASELINE = "mailconduit@base"
"""The mailconduit contender run from another checkout (``--baseline-src``): before/after in one run."""


def run_child(name: str, conf: dict[str, Any]) -> dict[str, Any]:
    """Run one contender in a fresh process (and a fresh destination directory)."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    try:
        conf = {**conf, "dir": str(work)}
        if name == "mbsync":
            return run_mbsync(conf)
        env = dict(os.environ)
        if name == BASELINE:
            root = Path(conf["baseline_src"])
            paths = [root / "core" / "src", *sorted((root / "plugins").glob("*/src"))]
            env["PYTHONPATH"] = os.pathsep.join(map(str, paths))
            name = "mailconduit"
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--conf", json.dumps(conf)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{name} failed:\n{exc.stderr}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=50)
    parser.add_argument("--only", default="raw,mailconduit,imap-tools,mbsync")
    parser.add_argument(
        "--baseline-src",
        help="also run mailconduit from this checkout (a git worktree of an older commit) as "
        f"{BASELINE!r}, in the same rounds",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--conf", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, json.loads(args.conf))
        return

    import trustme

    from mailconduit.testing import DovecotServer

    ca = trustme.CA()
    names = args.only.split(",")
    if args.baseline_src:
        names.insert(names.index("mailconduit") + 1 if "mailconduit" in names else len(names), BASELINE)
    with DovecotServer(ca) as server:
        user = server.add_user()
        sizes: list[int] = []

        def counted() -> Iterator[bytes]:
            for message in corpus(args.messages):
                sizes.append(len(message))
                yield message

        started = time.perf_counter()
        server.seed(user, counted())
        mb = sum(sizes) / 1e6
        attached = sum(1 for n in range(len(sizes)) if n % 10 == 7)
        print(
            f"seeded {len(sizes)} messages ({attached} with attachments), {mb:.0f} MB, "
            f"in {time.perf_counter() - started:.1f} s"
        )
        ca_file = Path(tempfile.mkdtemp()) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        conf = {
            "host": server.host,
            "port": server.imap_port,
            "user": user.name,
            "password": user.password,
            "ca_file": str(ca_file),
            "baseline_src": args.baseline_src,
        }
        run_child("raw", conf)  # warm Dovecot's index and the page cache
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for round_ in range(1, args.rounds + 1):
            for name in names:
                got = run_child(name, conf)
                assert got["count"] == len(sizes), (name, got["count"])
                results[name].append(got)
                print(
                    f"round {round_} {name:16s} {got['count'] / got['seconds']:8.0f} msg/s "
                    f"{got['bytes'] / got['seconds'] / 1e6:7.1f} MB/s  {got['seconds']:6.2f} s  "
                    f"peak RSS {got['hwm_kib'] / 1024:6.0f} MB  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            if "raw" in names:
                line = " ".join(
                    f"{name}/raw={results[name][-1]['seconds'] / results['raw'][-1]['seconds']:.2f}"
                    for name in names
                    if name != "raw"
                )
                print(f"round {round_} time ratios: {line}", flush=True)
        print(f"\nmedians over {args.rounds} rounds, {len(sizes)} messages, {mb:.0f} MB:")
        median = {name: statistics.median(r["seconds"] for r in results[name]) for name in names}
        for name in names:
            peak = max(r["hwm_kib"] for r in results[name]) / 1024
            ratio = f"{median[name] / median['raw']:5.2f}" if "raw" in names else "  -  "
            print(
                f"  {name:16s} {len(sizes) / median[name]:8.0f} msg/s  time / raw {ratio}  "
                f"peak RSS {peak:5.0f} MB"
            )
        if {"raw", "mailconduit"} <= set(names):
            print(f"  target mailconduit >= 0.3x raw speed: {median['raw'] / median['mailconduit']:.2f}x")
        if {"imap-tools", "mailconduit"} <= set(names):
            print(
                f"  target mailconduit >= 5x imap-tools: {median['imap-tools'] / median['mailconduit']:.2f}x"
            )
        if {BASELINE, "mailconduit"} <= set(names):
            print(f"  mailconduit / {BASELINE} speed: {median[BASELINE] / median['mailconduit']:.2f}x")
        if {"mbsync", "mailconduit"} <= set(names):
            print(f"  target mailconduit faster than mbsync: {median['mbsync'] / median['mailconduit']:.2f}x")
        print(f"  load average at the end: {os.getloadavg()[0]:.1f}")
        if args.big_mb:
            big = big_message(args.big_mb)
            big_user = server.add_user()
            server.seed(big_user, [big])
            got = run_child("mailconduit", {**conf, "user": big_user.name, "password": big_user.password})
            assert got["count"] == 1 and got["bytes"] == len(big), got
            growth = got["growth_kib"] * 1024
            print(
                f"\none {len(big) / 1e6:.0f} MB message: peak RSS growth {growth / 1e6:.0f} MB = "
                f"{growth / len(big):.2f}x its size (target: under 2x), {got['seconds']:.2f} s"
            )


if __name__ == "__main__":
    main()
