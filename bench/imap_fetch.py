"""Benchmark: the imap plugin's ``Mailbox.fetch`` against the raw limit on a local Dovecot.

Seeds 10,000 messages of 2-60 KB into a private Dovecot, then, in the same run and several rounds:

* raw: one socket, LOGIN, SELECT, one ``UID FETCH 1:* (BODY.PEEK[])``, bodies read and discarded;
* mailconduit: ``ImapTransport().open(...)``, ``list_new`` and ``fetch`` of every message (500 UIDs
  per command, two in flight), bodies discarded.

Run: ``.venv/bin/python bench/imap_fetch.py [--messages N] [--rounds R]``. Prints msg/s, MB/s and the
ratio raw time / mailconduit time (1.0 = at the wire's limit).
"""

from __future__ import annotations

import argparse
import random
import re
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import trustme

from mailconduit import Account, Credentials, Secret, TlsMode
from mailconduit.testing import DovecotServer, MailUser
from mailconduit_imap import ImapSettings, ImapTransport

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


def make_messages(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        size = rng.randint(2_000, 60_000)
        head = f"From: a{n}@example.test\r\nTo: b@example.test\r\nSubject: bench {n}\r\n"
        head += f"Message-ID: <{n}@bench>\r\n\r\n"
        line = b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n"
        out.append(head.encode() + line * (size // len(line)))
    return out


def raw_fetch(server: DovecotServer, user: MailUser) -> tuple[int, int]:
    sock = socket.create_connection((server.host, server.imap_port))
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
                size = int(match.group(1))
                left = size
                while left:
                    left -= len(file.read(min(left, 1 << 20)))
                count += 1
                total += size

    file.readline()
    command(f'LOGIN {user.name} "{user.password}"'.encode(), b"a1")
    command(b"SELECT INBOX", b"a2")
    result = command(b"UID FETCH 1:* (BODY.PEEK[])", b"a3")
    sock.close()
    return result


def mailconduit_fetch(account: Account, credentials: Credentials) -> tuple[int, int]:
    mailbox = ImapTransport().open(account, credentials)
    try:
        refs = mailbox.list_new("INBOX", (), True, None)
        count = total = 0
        for raw in mailbox.fetch("INBOX", refs):
            count += 1
            total += len(raw.data)
        return count, total
    finally:
        mailbox.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ca = trustme.CA()
    with DovecotServer(ca) as server:
        user = server.add_user()
        messages = make_messages(args.messages)
        started = time.perf_counter()
        server.seed(user, messages)
        mb = sum(len(m) for m in messages) / 1e6
        print(f"seeded {len(messages)} messages, {mb:.0f} MB, in {time.perf_counter() - started:.1f} s")
        ca_file = Path(tempfile.mkdtemp()) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        account = Account(
            name="bench",
            email="bench@example.test",
            ca_file=str(ca_file),
            receive=ImapSettings(
                protocol="imap",
                host=server.host,
                port=server.imap_port,
                tls=TlsMode.NONE,
                timeout=timedelta(seconds=60),
            ),
        )
        credentials = Credentials(kind="password", username=user.name, secret=Secret(user.password))
        raw_fetch(server, user)  # warm Dovecot's index and the page cache
        for round_ in range(1, args.rounds + 1):
            timings = {}
            for name, run in (
                ("raw", lambda: raw_fetch(server, user)),
                ("mailconduit", lambda: mailconduit_fetch(account, credentials)),
            ):
                started = time.perf_counter()
                count, total = run()
                elapsed = time.perf_counter() - started
                assert count == len(messages), (name, count)
                timings[name] = elapsed
                rate = f"{count / elapsed:8.0f} msg/s {total / elapsed / 1e6:7.1f} MB/s"
                print(f"round {round_} {name:12s} {rate}")
            print(
                f"round {round_} mailconduit time / raw time = {timings['mailconduit'] / timings['raw']:.2f}"
            )


if __name__ == "__main__":
    main()
