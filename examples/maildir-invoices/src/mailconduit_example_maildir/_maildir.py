"""The Maildir format on disk: unique names, atomic delivery (tmp/ then new/), and listing in order.

A Maildir is a directory with ``tmp/``, ``new/`` and ``cur/``. A delivery writes the message to a
file with a unique name in ``tmp/``, flushes it to disk, links it into ``new/`` and removes the
``tmp/`` name, so a reader never sees half a message (D. J. Bernstein, "Using maildir format",
https://cr.yp.to/proto/maildir.html). A reader may move the file to ``cur/`` and append
``:2,FLAGS`` to its name; the part before the ``:`` stays the message's key.

Nothing here knows about mailconduit: these are plain functions over paths and bytes.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import time
from pathlib import Path

__all__ = [
    "SUBDIRS",
    "deliver",
    "ensure_maildir",
    "find",
    "is_temporary",
    "key_of",
    "messages",
    "unique_name",
]

SUBDIRS = ("tmp", "new", "cur")
_TIMESTAMP = re.compile(r"^(\d+)\.(?:[^.]*?M(\d{1,6})(?!\d))?")
# Failures that may go away by themselves (a full disk, a quota, a busy or missing network mount).
_TEMPORARY = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EBUSY, errno.ESTALE})


def _host() -> str:
    """This machine's name as a Maildir name part: ``/`` and ``:`` escaped as the format asks."""
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072") or "localhost"


def unique_name(now: float | None = None) -> str:
    """A new unique file name: ``SECONDS.M<microseconds>P<pid>R<random>.<host>``.

    The seconds and microseconds make names sort in delivery order; the process id and 64 random
    bits make them unique across processes and threads without a shared counter.
    """
    now = time.time() if now is None else now
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    return f"{seconds}.M{micros:06d}P{os.getpid()}R{os.urandom(8).hex()}.{_host()}"


def key_of(name: str) -> str:
    """The key of a message file: its name without the ``:2,FLAGS`` a reader may have added."""
    return name.split(":", 1)[0]


def is_temporary(error: OSError) -> bool:
    """Whether a delivery that failed with ``error`` may succeed later (disk full, quota, I/O)."""
    return error.errno in _TEMPORARY


def ensure_maildir(path: Path, *, create: bool) -> Path:
    """Check that ``path`` is a Maildir, creating it (mode 0700) when ``create`` is set.

    Raises:
        OSError: it is missing (and not to be created), not a directory, or cannot be created.
    """
    for sub in (path, *(path / name for name in SUBDIRS)):
        if sub.is_dir():
            continue
        if not create or sub.exists():
            raise NotADirectoryError(errno.ENOTDIR, "not a Maildir (needs tmp/, new/ and cur/)", str(sub))
        sub.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def deliver(maildir: Path, data: bytes) -> Path:
    """Deliver ``data`` into ``maildir``'s ``new/`` atomically; return the new file.

    The bytes are written unchanged. The file never replaces another (``link`` fails on an
    existing name). Run as root, the file is given to the Maildir's owner, as a local delivery
    agent does, so the mail server reading it as that user can open it.

    Raises:
        OSError: the Maildir cannot be written (its ``errno`` says why).
    """
    name = unique_name()
    tmp = maildir / "tmp" / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            owner = maildir.stat()
            if os.geteuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
                os.fchown(fd, owner.st_uid, owner.st_gid)
            os.fsync(fd)
        finally:
            os.close(fd)
        final = maildir / "new" / name
        os.link(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(maildir / "new")
    return final


def _order(path: Path) -> tuple[int, str]:
    """Delivery order: the time in the name when it has one (``SECONDS.M<usec>``), else the mtime."""
    match = _TIMESTAMP.match(path.name)
    stamp = int(match[1]) * 10**9 + int(match[2] or 0) * 1_000 if match else path.stat().st_mtime_ns
    return stamp, path.name


def messages(maildir: Path) -> list[Path]:
    """The message files of ``new/`` and ``cur/``, oldest delivery first (``tmp/`` is never read)."""
    found: list[Path] = []
    for sub in ("new", "cur"):
        found.extend(p for p in (maildir / sub).iterdir() if not p.name.startswith("."))
    return sorted(found, key=_order)


def find(maildir: Path, key: str) -> Path | None:
    """The file of the message ``key`` in ``new/`` or ``cur/``, or None when it is gone."""
    for sub in ("new", "cur"):
        exact = maildir / sub / key
        if exact.exists():
            return exact
        for entry in os.scandir(maildir / sub):
            if key_of(entry.name) == key:
                return maildir / sub / entry.name
    return None
