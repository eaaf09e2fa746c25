"""IDLE delivery latency: a message APPENDed by another client until it is in the store, via `watch`.

Against, in the same run, the floor: a bare imaplib client in IDLE on the same Dovecot, from the
APPEND until its EXISTS arrives (Dovecot's own notify delay, ~0.5 s in the recipes). Reports the
median and the 90th percentile of both, and their difference (what mailconduit adds: the resync run,
fetch, commit). Usage: .venv/bin/python bench/idle_latency.py [--count 20]
"""

from __future__ import annotations

import argparse
import imaplib
import statistics
import tempfile
import threading
import time
from pathlib import Path

import trustme

from mailconduit import load_config, load_plugins
from mailconduit._replicate import watch
from mailconduit._store import open_store
from mailconduit.testing import DovecotServer

CONFIG = """
accounts:
  bench:
    email: bench@example.test
    auth: {{method: password, username: {user}, password: "{password}"}}
    receive: {{protocol: imap, host: 127.0.0.1, port: {port}, tls: none, subscribe: true,
               poll_every: 1h, idle_refresh: 20m}}
"""


def message(number: int) -> bytes:
    return (
        f"From: a@example.test\r\nTo: bench@example.test\r\nSubject: latency {number}\r\n"
        f"Message-ID: <lat-{number}-{time.time_ns()}@example.test>\r\n\r\nbody {number}\r\n"
    ).encode()


def append(port: int, user: str, password: str, data: bytes) -> None:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(user, password)
    client.append("INBOX", None, None, data)
    client.logout()


def stored_count(store: object) -> int:
    from sqlalchemy import func, select

    from mailconduit._store._models import MessageRow

    with store.session(readonly=True) as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(MessageRow)) or 0)


def floor_latencies(port: int, user: str, password: str, count: int) -> list[float]:
    """APPEND -> EXISTS seen by a bare IDLE client (imaplib, raw IDLE/DONE)."""
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(user, password)
    client.select("INBOX")
    client.sock.settimeout(10)
    results = []
    for number in range(count):
        tag = client._new_tag().decode()
        client.send(f"{tag} IDLE\r\n".encode())
        client.readline()  # + idling
        start = time.perf_counter()
        threading.Thread(target=append, args=(port, user, password, message(10_000 + number))).start()
        while b"EXISTS" not in client.readline():
            pass
        results.append(time.perf_counter() - start)
        client.send(b"DONE\r\n")
        while not client.readline().startswith(tag.encode()):
            pass
    client.logout()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    dovecot = DovecotServer(trustme.CA()).start()
    try:
        user = dovecot.add_user()
        floor = floor_latencies(dovecot.imap_port, user.name, user.password, args.count)
        watched = dovecot.add_user()
        plugins = load_plugins()
        config = load_config(
            CONFIG.format(user=watched.name, password=watched.password, port=dovecot.imap_port), plugins
        )
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
            cancel = threading.Event()
            thread = threading.Thread(
                target=watch,
                args=("bench",),
                kwargs={"store": store, "plugins": plugins, "config": config, "cancel": cancel},
                daemon=True,
            )
            thread.start()
            time.sleep(1.0)  # let the first run finish and IDLE begin
            latencies = []
            for number in range(args.count):
                before = stored_count(store)
                start = time.perf_counter()
                append(dovecot.imap_port, watched.name, watched.password, message(number))
                while stored_count(store) <= before:
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - start)
            cancel.set()
            thread.join(30)
            store.close()
    finally:
        dovecot.stop()

    def summary(values: list[float]) -> str:
        ordered = sorted(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        return f"median {statistics.median(values) * 1000:7.1f} ms   p90 {p90 * 1000:7.1f} ms"

    print(f"{args.count} deliveries each")
    print(f"bare IDLE client (APPEND -> EXISTS, the floor): {summary(floor)}")
    print(f"mailconduit watch (APPEND -> stored):           {summary(latencies)}")
    added = statistics.median(latencies) - statistics.median(floor)
    print(f"added by mailconduit (median): {added * 1000:.1f} ms")


if __name__ == "__main__":
    main()
