"""Shared pieces of the runner's reliability tests (tests/test_runner_*.py).

* :class:`LiveFaultProxy`: a :class:`FaultProxy` that can also strike the connections already
  open (``strike("rst" | "fin" | "blackhole")``): the runner's IDLE session is long-lived, so a
  fault that only applies to later connections would never reach it. It records when each
  connection was accepted and samples the client's bytes, so a test can see reconnects and
  the IDLE re-issues on the wire.
* :func:`runner_yaml`: a configuration with accounts (receiving through a proxy or straight
  from Dovecot, optionally sending), pipelines and the runner section; passwords are
  ``${env:PW_<account>}`` so no secret is written to a file.
* :class:`Appender`: a second IMAP client (straight to Dovecot) that delivers with APPEND and
  records when each delivery was made.
* :func:`stored_by_subject`: what the runner stored, with the time each row was written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import imaplib
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailconduit._store import Store
from mailconduit._store._models import Direction, MessageRow
from mailconduit._store._repo_messages import raw_bytes_of
from mailconduit._testing.faults import Fault, FaultProxy, ProxyConnection
from mailconduit.testing import MailUser

STRIKES = ("rst", "fin", "blackhole")


class LiveFaultProxy(FaultProxy):
    """A FaultProxy whose open connections can be cut or blackholed now, with accept times."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        """Prepare a proxy to ``target_host:target_port`` (see :class:`FaultProxy`)."""
        super().__init__(target_port, target_host)
        self.pipes: dict[int, Any] = {}
        self.accepted_at: dict[int, float] = {}
        self.accepted_clean: set[int] = set()
        self.up_samples: dict[int, list[tuple[float, int]]] = {}
        self.struck_at: dict[int, float] = {}
        self._sampler: threading.Thread | None = None

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        pipe = getattr(getattr(target, "func", None), "__self__", None)
        if isinstance(target, functools.partial) and pipe is not None:
            index = pipe.conn.index
            self.pipes[index] = pipe
            self.accepted_at[index] = time.time()
            if pipe.conn.fault is None:
                self.accepted_clean.add(index)
        super()._spawn(target, name)

    def start(self) -> LiveFaultProxy:
        """Listen, accept, and sample every open connection's client bytes every 0.25 s."""
        super().start()
        self._sampler = threading.Thread(target=self._sample, name=f"proxy-{self.port}-sampler", daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stopping.wait(0.25):
            now = time.time()
            for index, pipe in list(self.pipes.items()):
                if not pipe.conn.closed.is_set() and index not in self.struck_at:
                    self.up_samples.setdefault(index, []).append((now, pipe.conn.sent["up"]))

    def open_connections(self) -> list[ProxyConnection]:
        """Connections not closed yet (faulted ones included)."""
        return [p.conn for p in self.pipes.values() if not p.conn.closed.is_set()]

    def live_connections(self) -> list[int]:
        """Indexes of the open connections no fault has reached (what :meth:`strike` would hit)."""
        return [i for i, p in list(self.pipes.items()) if not p.conn.closed.is_set() and p.fault is None]

    def strike(self, kind: str) -> list[int]:
        """Apply a fault to every open, unfaulted connection now; return their indexes.

        ``rst``/``fin`` cut the connection (both sides), ``blackhole`` keeps it open and forwards
        nothing more either way (the client notices only through its own timeouts).
        """
        struck = []
        now = time.time()
        for index, pipe in list(self.pipes.items()):
            conn = pipe.conn
            if conn.closed.is_set() or pipe.fault is not None:
                continue
            sent = conn.sent["down"]
            fault = Fault.blackhole(sent) if kind == "blackhole" else Fault.cut(sent, rst=kind == "rst")
            conn.fault = fault
            self.struck_at[index] = now
            pipe.fault = fault  # the pipe's loop applies it on its next turn (<= 50 ms)
            struck.append(index)
        return struck

    def first_clean_after(self, when: float) -> float | None:
        """When the first connection accepted after ``when`` without a fault was accepted."""
        times = [at for index, at in self.accepted_at.items() if at > when and index in self.accepted_clean]
        return min(times, default=None)

    def longest_client_silence(self) -> float:
        """The longest time any healthy connection went without a byte from the client.

        Measured over each connection's sampled life up to its close or strike: the IDLE
        session's re-issues (``DONE`` and a new ``IDLE``) are what breaks the silence.
        """
        longest = 0.0
        for samples in self.up_samples.values():
            last_change, last_value = None, None
            for at, value in samples:
                if last_value is None or value != last_value:
                    if last_change is not None:
                        longest = max(longest, at - last_change)
                    last_change, last_value = at, value
            if last_change is not None and samples:
                longest = max(longest, samples[-1][0] - last_change)
        return longest


# ------------------------------------------------------------------------------------ configuration
@dataclass
class AccountSpec:
    """One account of :func:`runner_yaml`."""

    name: str
    user: MailUser
    port: int
    receive: Mapping[str, Any] = field(default_factory=dict)
    send_port: int | None = None


def _flow(values: Mapping[str, Any]) -> str:
    def one(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, Mapping):
            return _flow(value)
        if isinstance(value, list):
            return "[" + ", ".join(one(v) for v in value) + "]"
        return str(value)

    return "{" + ", ".join(f"{k}: {one(v)}" for k, v in values.items()) + "}"


def runner_yaml(
    db: Path,
    ca: Path,
    accounts: Iterable[AccountSpec],
    pipelines: Mapping[str, Mapping[str, Any]],
    *,
    runner: Mapping[str, Any] | None = None,
    plugins: Iterable[str] = (),
) -> str:
    """A whole configuration: SQLite at ``db``, the accounts, the pipelines, the runner section."""
    lines = [f"database: sqlite:///{db}"]
    if plugins:
        lines.append(f"plugins: [{', '.join(plugins)}]")
    lines.append("accounts:")
    for spec in accounts:
        receive = {
            "protocol": "imap",
            "host": "127.0.0.1",
            "port": spec.port,
            "tls": "none",
            "timeout": "2s",
            "reconnect_backoff": {"initial": "1s", "max": "2s"},
            **spec.receive,
        }
        lines += [
            f"  {spec.name}:",
            f"    email: {spec.user.name}@example.test",
            f"    ca_file: {ca}",
            f"    auth: {{method: password, username: {spec.user.name}, "
            f"password: '${{env:PW_{spec.name}}}'}}",
            f"    receive: {_flow(receive)}",
        ]
        if spec.send_port is not None:
            lines += [
                "    send: "
                + _flow(
                    {
                        "protocol": "smtp",
                        "host": "127.0.0.1",
                        "port": spec.send_port,
                        "tls": "starttls",
                        "timeout": "5s",
                        "max_attempts": 50,
                        "backoff": {"initial": "1s", "max": "2s"},
                    }
                )
            ]
    lines.append("pipelines:")
    for name, settings in pipelines.items():
        lines.append(f"  {name}: {_flow({'steps': ['store'], **settings})}")
    lines.append(f"runner: {_flow(runner or {'watchdog_intervals': 3})}")
    return "\n".join(lines) + "\n"


def passwords(accounts: Iterable[AccountSpec]) -> dict[str, str]:
    """The environment ``runner_yaml``'s ``${env:...}`` references need."""
    return {f"PW_{spec.name}": spec.user.password for spec in accounts}


# ------------------------------------------------------------------------------------ mail
def message(tag: str, n: int, size: int = 600) -> bytes:
    """A CRLF message with subject ``{tag} {n}`` and a unique Message-ID."""
    head = (
        f"From: Sender <sender@example.test>\r\nTo: user@example.test\r\nSubject: {tag} {n}\r\n"
        f"Message-ID: <{tag}-{n}-{os.getpid()}@example.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n"
    ).encode()
    line = (f"{tag} {n} " + "x" * 70)[:76].encode() + b"\r\n"
    return head + line * max(1, size // len(line))


_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")


class Appender:
    """A second IMAP client, straight to Dovecot: APPEND, flag, expunge; reconnects when needed."""

    def __init__(self, port: int, user: MailUser) -> None:
        """Log in as ``user`` on Dovecot's cleartext IMAP ``port``."""
        self.port, self.user = port, user
        self.client: imaplib.IMAP4 | None = None
        self.delivered: dict[str, float] = {}

    def _client(self) -> imaplib.IMAP4:
        if self.client is None:
            client = imaplib.IMAP4("127.0.0.1", self.port, timeout=20)
            client.login(self.user.name, self.user.password)
            client.select("INBOX")
            self.client = client
        return self.client

    def append(self, subject: str, raw: bytes) -> int:
        """APPEND ``raw``; records the time just before it went out; returns its UID."""
        self.delivered[subject] = time.time()
        typ, data = self._client().append("INBOX", None, None, raw)
        assert typ == "OK", data
        match = _APPENDUID.search(data[0] or b"")
        assert match is not None, data
        return int(match.group(1))

    def flag(self, uid: int, flag: str) -> None:
        """Set or clear (``-\\Flagged``) a flag by UID."""
        sign, name = ("-", flag[1:]) if flag.startswith("-") else ("+", flag)
        typ, data = self._client().uid("STORE", str(uid), f"{sign}FLAGS.SILENT", f"({name})")
        assert typ == "OK", data

    def expunge(self, uid: int) -> None:
        """Delete and expunge exactly this UID (UIDPLUS ``UID EXPUNGE``)."""
        client = self._client()
        typ, data = client.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
        assert typ == "OK", data
        typ, data = client.uid("EXPUNGE", str(uid))
        assert typ == "OK", data

    def close(self) -> None:
        """Log out."""
        if self.client is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                self.client.logout()
            self.client = None


@dataclass(frozen=True)
class StoredRow:
    """A received message in the store: its subject, account and when the runner wrote it."""

    account: str
    subject: str | None
    sha256: str
    created_at: datetime


def stored_rows(store: Store) -> list[StoredRow]:
    """Every received message row, in id order."""
    with store.session(readonly=True) as session:
        query = select(MessageRow).where(MessageRow.direction == Direction.INCOMING).order_by(MessageRow.id)
        return [StoredRow(r.account, r.subject, r.sha256, r.created_at) for r in session.scalars(query)]


def stored_by_subject(store: Store) -> dict[str, list[StoredRow]]:
    """Stored rows grouped by subject."""
    found: dict[str, list[StoredRow]] = {}
    for row in stored_rows(store):
        found.setdefault(row.subject or "", []).append(row)
    return found


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def check_incoming_converged(store: Store, seeded: Iterable[bytes]) -> None:
    """0 lost and 0 dup among received messages (outgoing rows of the outbox are not counted).

    Every seeded message is stored byte-exact exactly once and no two received rows share a
    server key (the conventions of ``tests._replication_helpers.check_converged``).
    """
    wanted = Counter(hashlib.sha256(m).hexdigest() for m in seeded)
    with store.session(readonly=True) as session:
        query = (
            select(
                MessageRow.id, MessageRow.account, MessageRow.folder, MessageRow.uidvalidity, MessageRow.uid
            )
            .add_columns(MessageRow.sha256)
            .where(MessageRow.direction == Direction.INCOMING)
        )
        rows = session.execute(query).all()
        raws = raw_bytes_of(session, [r.id for r in rows])
    digests = {r.id: hashlib.sha256(raws[r.id]).hexdigest() for r in rows}
    have = Counter(digests.values())
    lost = wanted - have
    assert not lost, f"{sum(lost.values())} of {sum(wanted.values())} delivered messages are not in the store"
    dup = {h: n for h, n in have.items() if n > 1}
    assert not dup, f"{len(dup)} messages stored more than once"
    keys = Counter((r.account, r.folder, r.uidvalidity, r.uid) for r in rows)
    assert max(keys.values(), default=1) == 1, "two rows share a server key"
    assert all(digests[r.id] == r.sha256 for r in rows), "a row's sha256 is wrong"
