"""Shared pieces of the end-to-end replication tests against the harness Dovecot.

Accounts are built from YAML through ``mailconduit.load_config`` (the password comes from
``${env:PW}``, so no secret is ever written to a file); stores are SQLite files in the test's
temp dir; the "0 lost / 0 dup" conventions of RELIABILITY.md are :func:`check_converged`.

Run as a script, this module is the child process of the kill and memory tests::

    python tests/_replication_helpers.py replicate CONFIG DB [--everything] [--folder F]

It replicates the account ``acct`` of ``CONFIG`` into ``DB`` (the password in ``$PW``) and prints
one JSON line: the run's counts and the process's peak RSS (``VmHWM``, bytes).
"""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import json
import os
import random
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from mailconduit import Account, load_config, load_plugins
from mailconduit._replicate import replicate
from mailconduit._store import Store, open_store
from mailconduit._store._models import EmailLog, LogLevel, MessageRaw, MessageRow
from mailconduit._store._repo_messages import raw_bytes_of

if TYPE_CHECKING:
    from mailconduit.testing import DovecotServer, MailUser

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
ACCOUNT = "acct"
_PLUGINS: Any = None


def plugins() -> Any:
    """The installed plugins, loaded once per process."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = load_plugins()
    return _PLUGINS


# ---------------------------------------------------------------------------------------- accounts
def account_yaml(
    *,
    protocol: str,
    port: int,
    tls: str,
    username: str,
    ca_file: Path | str,
    host: str = "127.0.0.1",
    **receive: Any,
) -> str:
    """The YAML of a config with one account ``acct``; its password is ``${env:PW}``."""
    settings = {"protocol": protocol, "host": host, "port": port, "tls": tls, **receive}
    flow = ", ".join(f"{key}: {_yaml_value(value)}" for key, value in settings.items())
    return (
        "accounts:\n"
        f"  {ACCOUNT}:\n"
        "    email: user@example.test\n"
        f"    ca_file: {json.dumps(str(ca_file))}\n"
        f"    auth: {{method: password, username: {json.dumps(username)}, password: '${{env:PW}}'}}\n"
        f"    receive: {{{flow}}}\n"
    )


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def load_account(text: str, password: str) -> Account:
    """The account ``acct`` of the YAML ``text``, with ``password`` for ``${env:PW}``."""
    config = load_config(text, plugins(), environ={"PW": password})
    return config.account(ACCOUNT)


def sqlite_store(path: Path) -> Store:
    """A new (or existing) SQLite store at ``path``."""
    return open_store(f"sqlite:///{path}")


# ---------------------------------------------------------------------------------------- messages
def synthetic(n: int, size: int = 300, *, tag: str = "m") -> bytes:
    """A CRLF message with a unique Message-ID, a body of about ``size`` bytes."""
    head = (
        f"From: Sender <sender@example.test>\r\nTo: user@example.test\r\nSubject: {tag} {n}\r\n"
        f"Message-ID: <{tag}-{n}@example.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n"
    ).encode()
    line = (f"{tag} {n} " + "x" * 70)[:76].encode() + b"\r\n"
    return head + line * max(1, size // len(line))


def crlf(data: bytes) -> bytes:
    """``data`` with every line ending CRLF (what Dovecot serves for a Maildir file)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def explode_mbox(data: bytes) -> list[bytes]:
    """The messages of an mbox (split on ``From `` lines, envelope lines dropped)."""
    starts = [m.start() for m in re.finditer(rb"(?m)^From ", data)]
    out = []
    for i, start in enumerate(starts):
        chunk = data[start : starts[i + 1] if i + 1 < len(starts) else len(data)]
        out.append(chunk[chunk.find(b"\n") + 1 :])
    return out


def corpus_messages() -> list[tuple[str, bytes]]:
    """Every message of ../shared/corpora (mboxes exploded), as ``(name, CRLF bytes)``.

    Dovecot keeps a Maildir file with LF line ends and serves CRLF, so a message is seeded (and
    compared) in its CRLF form. A bare CR inside a line is kept as it is.
    """
    root = CORPORA
    found: list[tuple[str, bytes]] = []
    for path in sorted((root / "cpython-test_email" / "data").glob("msg_*.txt")):
        found.append((path.stem, path.read_bytes()))
    for sub in ("messages", "compliance", "partial", "smime"):
        for path in sorted((root / "mimekit" / sub).iterdir()):
            found.append((f"mimekit/{sub}/{path.name}", path.read_bytes()))
    found.append(("html5sec/test.eml", (root / "html5sec" / "test.eml").read_bytes()))
    for path in [
        *sorted((root / "mimekit" / "mbox").iterdir()),
        *sorted((root / "imaptest-mbox").rglob("*.mbox")),
    ]:
        for i, message in enumerate(explode_mbox(path.read_bytes())):
            found.append((f"{path.name}#{i}", message))
    return [(name, crlf(data)) for name, data in found if data.strip()]


def served_as_seeded(data: bytes) -> bool:
    """Whether Dovecot serves ``data`` (CRLF) back unchanged: no bare CR, no NUL (served as 0x80)."""
    return b"\0" not in data and b"\r" not in data.replace(b"\r\n", b"")


def mixed_messages(count: int, seed: int, *, tag: str = "k") -> list[bytes]:
    """``count`` messages: a quarter from the corpus (made unique), the rest synthetic 2-200 KB."""
    rng = random.Random(seed)
    corpus = [data for _, data in corpus_messages() if served_as_seeded(data)]
    out = []
    for n in range(count):
        if n % 4 == 0 and corpus:
            base = corpus[rng.randrange(len(corpus))]
            out.append(f"X-Mailconduit-Test: {tag}-{n}\r\n".encode() + base)
        else:
            out.append(synthetic(n, rng.randint(2_000, 200_000), tag=tag))
    return out


def sha(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------- store
@dataclass(frozen=True)
class Row:
    """One received message in the store."""

    id: int
    folder: str | None
    uidvalidity: int | None
    uid: int | None
    uidl: str | None
    sha256: str
    defects: tuple[str, ...]


def stored_rows(store: Store) -> list[Row]:
    """Every received message row, in id order."""
    with store.session(readonly=True) as session:
        return [
            Row(r.id, r.folder, r.uidvalidity, r.uid, r.uidl, r.sha256, tuple(r.defects or ()))
            for r in session.scalars(select(MessageRow).order_by(MessageRow.id))
        ]


def stored_raw_hashes(store: Store) -> Counter[str]:
    """sha256 of every stored raw body, recomputed from the bytes (not the row's column)."""
    with store.session(readonly=True) as session:
        ids = list(session.scalars(select(MessageRaw.message_id)))
        found: Counter[str] = Counter()
        for start in range(0, len(ids), 500):  # a 10,000-message store is not read into memory at once
            found.update(sha(raw) for raw in raw_bytes_of(session, ids[start : start + 500]).values())
        return found


def warnings(store: Store) -> list[str]:
    """The email log's warnings, oldest first."""
    with store.session(readonly=True) as session:
        query = select(EmailLog.text).where(EmailLog.level == LogLevel.WARNING).order_by(EmailLog.id)
        return list(session.scalars(query))


def check_converged(store: Store, seeded: Iterable[bytes]) -> None:
    """0 lost (every seeded message stored byte-exact) and 0 dup (RELIABILITY.md conventions)."""
    wanted = Counter(sha(m) for m in seeded)
    have = stored_raw_hashes(store)
    rows = stored_rows(store)
    lost = wanted - have
    assert not lost, f"{sum(lost.values())} of {sum(wanted.values())} seeded messages are not in the store"
    dup = {h: n for h, n in have.items() if n > wanted.get(h, 1)}
    assert not dup, f"{len(dup)} messages stored more than once"
    keys = Counter((r.folder, r.uidvalidity, r.uid, r.uidl) for r in rows)
    assert max(keys.values(), default=1) == 1, "two rows share a server key"
    assert sorted(r.sha256 for r in rows) == sorted(have.elements()), (
        "a row's sha256 differs from its raw bytes"
    )


# ---------------------------------------------------------------------------------------- servers
def imap_client(port: int, name: str, password: str) -> imaplib.IMAP4:
    """Another IMAP client (plain, loopback), logged in."""
    client = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    client.login(name, password)
    return client


def folder_count(port: int, name: str, password: str, folder: str = "INBOX") -> int:
    """How many messages ``folder`` holds now (asked over IMAP, so Dovecot's view)."""
    client = imap_client(port, name, password)
    try:
        typ, data = client.status(folder, "(MESSAGES)")
        assert typ == "OK", data
        match = re.search(rb"MESSAGES (\d+)", data[0] or b"")
        assert match is not None, data
        return int(match.group(1))
    finally:
        client.logout()


def peak_rss() -> int:
    """This process's peak resident set size (``VmHWM``) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def kill_dovecot(server: DovecotServer) -> int:
    """SIGKILL the private instance's master and every child process; return how many died."""
    proc = server._proc
    assert proc is not None
    pids = descendants(proc.pid)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(10)
    return len(pids)


def restart_dovecot(server: DovecotServer, user: MailUser) -> None:
    """Start the same instance again (same dir, config, ports, mail) and wait until LOGIN works."""
    from mailconduit._testing._procs import spawn, wait_until  # not in the replicating child
    from mailconduit._testing.dovecot import DOVECOT_BINARY

    account = server._account
    assert account is not None
    log = server.dir / "log" / "stdout.log"
    server._proc = spawn([DOVECOT_BINARY, "-F", "-c", server.dir / "dovecot.conf"], account, log)

    def ready() -> bool:
        folder_count(server.imap_port, user.name, user.password)
        return True

    wait_until(ready, "restarted dovecot", retry_on=(OSError, Exception), timeout=20)


def child_env(password: str) -> dict[str, str]:
    """The environment of a child replicator: ours plus the password."""
    return {**os.environ, "PW": password}


def _main(argv: list[str]) -> int:
    command, config_path, db = argv[:3]
    assert command == "replicate", command
    options = set(argv[3:])
    folder = None
    if "--folder" in argv:
        folder = argv[argv.index("--folder") + 1]
    if "--kill-before-quit" in options:
        _kill_between_dele_and_quit()
    account = load_account(Path(config_path).read_text(), os.environ["PW"])
    store = sqlite_store(Path(db))
    ready = peak_rss()
    try:
        result = replicate(
            account,
            store=store,
            plugins=plugins(),
            folder=folder,
            everything="--everything" in options or None,
        )
    finally:
        store.close()
    counts = {
        k: getattr(result, k)
        for k in ("fetched", "stored", "known", "failed", "moved", "deleted", "remaining")
    }
    print(json.dumps({**counts, "vmhwm_ready": ready, "vmhwm": peak_rss()}), flush=True)
    return 0


def _kill_between_dele_and_quit() -> None:
    """Make this process SIGKILL itself once the server acknowledged DELEs, before QUIT goes out."""
    import signal

    from mailconduit_pop3._client import Pop3Client

    pipeline, quit_ = Pop3Client.pipeline, Pop3Client.quit
    deleted: list[int] = []

    def counting(self: Any, stage: str, lines: Any, read: Any, depth: int) -> Any:
        for reply in pipeline(self, stage, lines, read, depth):
            if stage == "DELE":
                deleted.append(1)
            yield reply

    def dying_quit(self: Any) -> None:
        if deleted:
            print(json.dumps({"killed_after_dele": len(deleted)}), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        quit_(self)

    Pop3Client.pipeline = counting  # type: ignore[method-assign]
    Pop3Client.quit = dying_quit  # type: ignore[method-assign]


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in consecutive lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
