"""Segment files: where a SQLite store keeps the raw bytes of large replicated batches.

SQLite in WAL mode writes every blob twice (into the WAL, then into the database at the checkpoint),
which costs a long replication run more than any other single step (PERFORMANCE.md). A SQLite
store therefore appends the raw bytes of a large batch to a *segment file* in the directory
``<database file>.segments/`` and its ``message_raw`` rows hold where they are (segment name,
offset, length) instead of the bytes. Small batches (a message woken by IDLE, a few polled ones)
keep their bytes in the row as before; PostgreSQL keeps every message in its row.

Durability and crashes: the batch's bytes are written and ``fsync``-ed (and, for a new file, its
directory) before the transaction that points at them commits, so a committed row always finds
its bytes. A crash in between leaves bytes no row points at, at the end of a segment: they are
never read, and the rerun stores the batch again. Segment files are only ever appended to.

Several writers: each writer (a :class:`SegmentWriter`, one per open store, shared by its
threads) appends to a file it holds an exclusive ``flock`` on, reusing an unlocked file below
:data:`SEGMENT_MAX_BYTES` when there is one, so concurrent processes never write the same file and
short-lived commands do not leave a file each.

Back up the database first (``sqlite3 mail.db ".backup copy.db"``), then the ``.segments`` directory:
segments only grow, so the later copy holds every byte the earlier snapshot points at. Bytes no
row points at (a rolled-back batch, a message deleted later) are not reclaimed yet.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from mailconduit._errors import StoreError

__all__ = [
    "SEGMENT_MAX_BYTES",
    "SEGMENT_MIN_BATCH",
    "Place",
    "SegmentWriter",
    "close_writer",
    "read_segment",
    "segment_dir",
    "writer_for",
]

SEGMENT_MIN_BATCH = 1024 * 1024
"""A batch with at least this many raw bytes goes to a segment file; a smaller one stays in rows."""
SEGMENT_MAX_BYTES = 1024 * 1024 * 1024
"""A segment file is not appended to once it is this large; the next batch starts another."""
_SUFFIX = ".seg"

Place = tuple[str, int, int]
"""Where one message's bytes are: segment file name, offset, length."""


def segment_dir(database: Path) -> Path:
    """The segment directory of the SQLite database file ``database``: beside the file itself.

    Symbolic links are followed, so a database reached through a link has the same segments
    for every reader and writer (the directory is next to the real file).
    """
    real = database.resolve()
    return real.with_name(real.name + ".segments")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentWriter:
    """Appends batches of raw messages to a segment file this writer holds locked.

    Thread-safe: a lock serialises batches of the threads sharing it.
    """

    def __init__(self, directory: Path) -> None:
        """Write under ``directory`` (created, mode 0700, on the first batch)."""
        self.directory = directory
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._name = ""

    def __repr__(self) -> str:
        return f"SegmentWriter({str(self.directory)!r})"

    def _ensure_directory(self) -> None:
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, exist_ok=True)
        # the directory's and the file's names must be durable before a row points into them, also
        # when another writer made them and crashed before its own fsync
        _fsync_dir(self.directory.parent)

    def _claim(self, path: Path, *, create: bool) -> IO[bytes] | None:
        """Open ``path`` for appending and lock it; None when another writer holds it (or it is unusable)."""
        # mail is private: a new segment is readable by its owner only, like the database file
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        try:
            fd = os.open(path, flags, 0o600)
        except OSError:
            if create:
                raise
            return None  # a file this writer cannot open is left to whoever can
        file = os.fdopen(fd, "ab")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            file.close()
            if isinstance(exc, BlockingIOError) or not create:  # another writer appends to it
                return None
            raise
        return file

    def _open(self) -> IO[bytes]:
        if self._file is not None and self._file.tell() < SEGMENT_MAX_BYTES:
            return self._file
        self._close_file()
        self._ensure_directory()
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            if path.stat().st_size < SEGMENT_MAX_BYTES:
                claimed = self._claim(path, create=False)
                if claimed is not None:
                    claimed.seek(0, os.SEEK_END)
                    _fsync_dir(self.directory)
                    self._file, self._name = claimed, path.name
                    return claimed
        name = f"{uuid.uuid4().hex}{_SUFFIX}"
        created = self._claim(self.directory / name, create=True)
        if created is None:  # a new name nobody else knows: only a broken file system refuses the lock
            raise OSError(f"cannot lock the new segment file {name}")
        _fsync_dir(self.directory)
        self._file, self._name = created, name
        return created

    def append(self, raws: Sequence[bytes]) -> list[Place]:
        """Append ``raws`` and make them durable; return where each one is.

        Raises:
            StoreError: the directory or file cannot be written (the path and the OS's reason).
        """
        with self._lock:
            try:
                file = self._open()
                offset = file.tell()
                out: list[Place] = []
                for raw in raws:
                    file.write(raw)
                    out.append((self._name, offset, len(raw)))
                    offset += len(raw)
                file.flush()
                os.fdatasync(file.fileno())  # the data and the new size, not the timestamps
            except OSError as exc:
                where = self.directory / self._name if self._file is not None else self.directory
                self._close_file()
                raise StoreError(f"cannot write the segment file in {where}: {exc.strerror or exc}") from exc
            return out

    def _close_file(self) -> None:
        """Close (and unlock) the file in use; the next batch opens one again (caller holds the lock)."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()

    def close(self) -> None:
        """Release the file (other writers may append to it then)."""
        with self._lock:
            self._close_file()


def read_segment(directory: Path, name: str, offset: int, length: int) -> bytes:
    """The ``length`` bytes at ``offset`` of segment ``name``.

    Raises:
        StoreError: the file is missing or shorter than the store says (it was removed, damaged
            or not restored with the database).
    """
    if "/" in name or name.startswith("."):
        raise StoreError(f"a message_raw row names the segment {name!r}, which is not a segment file name")
    path = directory / name
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            data = file.read(length)
    except OSError as exc:
        raise StoreError(
            f"cannot read segment file {path}: {exc.strerror or exc} (restore the .segments directory "
            "with the database)"
        ) from exc
    if len(data) != length:
        raise StoreError(
            f"segment file {path} ends before the {length} bytes at offset {offset} the store points at "
            "(damaged, truncated or restored from another backup)"
        )
    return data


_writers: dict[tuple[int, Path], SegmentWriter] = {}
_writers_lock = threading.Lock()


def writer_for(database: Path) -> SegmentWriter:
    """This process's writer for the SQLite database file ``database`` (one, shared by its threads)."""
    key = (os.getpid(), segment_dir(database))
    with _writers_lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = SegmentWriter(key[1])
        return writer


def close_writer(database: Path) -> None:
    """Release this process's segment file of ``database`` (when the store is closed)."""
    with _writers_lock:
        writer = _writers.pop((os.getpid(), segment_dir(database)), None)
    if writer is not None:
        writer.close()
