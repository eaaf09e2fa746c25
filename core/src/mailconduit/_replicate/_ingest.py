"""Commit 1 of a batch: the raw bytes and a cheap header scan, once per server key, in a few statements.

Raw-first (PERFORMANCE.md): the header scan is a bytes regex over the header block, the rows are
inserted in bulk (one lookup of the batch's keys, one multi-row insert for the rows, one for the
bytes), never a query per message. On a SQLite file, a large batch's bytes are appended to a
segment file (``_store._segments``: SQLite's WAL would write them twice) and the rows point there.
A key the store already holds is recognised, not stored twice. After a UIDVALIDITY change the batch
is first matched against the rows stored under the old UIDVALIDITY, by content hash, then by
Message-ID: a match is re-keyed to its new UID instead of stored again (RELIABILITY.md A7).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from attrs import define, field
from sqlalchemy import ColumnElement, Dialect, Table, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from mailconduit._message import MessageStatus
from mailconduit._mime import HeaderScan, scan_headers
from mailconduit._replicate._bulk import converter, insert_rows, same
from mailconduit._replicate._plan import Key, parse_key
from mailconduit._store._columns import utcnow
from mailconduit._store._engine import sqlite_path
from mailconduit._store._models import Direction, KnownKey, MessageRaw, MessageRow
from mailconduit._store._repo_messages import HeaderScan as StoreScan
from mailconduit._store._repo_messages import store_received
from mailconduit._store._segments import SEGMENT_MIN_BATCH, writer_for
from mailconduit._types import MessageRef, RawMail

__all__ = ["Ingested", "ingest"]


@define(kw_only=True)
class Ingested:
    """One message of a batch after commit 1.

    Attributes:
        id: its store id.
        ref: the server's ref (the current key).
        key: the key as store columns.
        raw: the bytes exactly as fetched.
        sha256: hex digest of ``raw``.
        scan: the cheap header scan.
        created: stored for the first time by this batch.
        rekeyed: matched to a row stored under an older UIDVALIDITY and re-keyed (not stored again).
        done: every step already accepted it in an earlier run (only possible for re-keyed rows).
        defects: the defects the row holds.
    """

    id: int = 0
    ref: MessageRef
    key: Key
    raw: bytes = field(repr=False)
    sha256: str
    scan: HeaderScan
    created: bool = False
    rekeyed: bool = False
    done: bool = False
    defects: list[str] = field(factory=list)


def _prepare(
    mails: Sequence[RawMail],
    uidvalidity_keys: bool,
    digests: Sequence[str] | None,
) -> list[Ingested]:
    seen: set[str] = set()
    out: list[Ingested] = []
    for index, mail in enumerate(mails):
        if mail.ref.key in seen:  # a server that sends one message twice: keep the first
            continue
        seen.add(mail.ref.key)
        out.append(
            Ingested(
                ref=mail.ref,
                key=parse_key(mail.ref.key, uidvalidity_keys=uidvalidity_keys),
                raw=mail.data,
                sha256=digests[index] if digests is not None else hashlib.sha256(mail.data).hexdigest(),
                scan=scan_headers(mail.data),
            )
        )
    return out


def _existing(session: Session, account: str, folder: str, items: list[Ingested]) -> None:
    """Attach the ids of rows already stored under the items' keys (one query)."""
    query = select(MessageRow.id, MessageRow.uidvalidity, MessageRow.uid, MessageRow.uidl, MessageRow.defects)
    query = query.where(MessageRow.account == account, MessageRow.direction == Direction.INCOMING)
    uidls = [i.key.uidl for i in items if i.key.uidl is not None]
    uids = [i.key.uid for i in items if i.key.uid is not None]
    if uidls:
        query = query.where(MessageRow.uidl.in_(uidls))
    else:
        validity = items[0].key.uidvalidity
        query = query.where(
            MessageRow.folder == folder, MessageRow.uidvalidity == validity, MessageRow.uid.in_(uids)
        )
    found = {(row.uidvalidity, row.uid, row.uidl): (row.id, row.defects) for row in session.execute(query)}
    for item in items:
        hit = found.get((item.key.uidvalidity, item.key.uid, item.key.uidl))
        if hit is not None:
            item.id, item.defects = hit[0], list(hit[1] or [])


def _reconcile(session: Session, account: str, folder: str, items: list[Ingested]) -> None:
    """Re-key rows stored under an older UIDVALIDITY that hold the same content (hash, then Message-ID)."""
    missing = [i for i in items if not i.id and i.key.uid is not None]
    if not missing:
        return
    current = missing[0].key.uidvalidity
    shas = [i.sha256 for i in missing]
    mids = [i.scan.message_id for i in missing if i.scan.message_id]
    wanted: ColumnElement[bool] = MessageRow.sha256.in_(shas)
    if mids:
        wanted = or_(wanted, MessageRow.header_message_id.in_(mids))
    query = select(MessageRow.id, MessageRow.sha256, MessageRow.header_message_id, MessageRow.defects).where(
        MessageRow.account == account,
        MessageRow.direction == Direction.INCOMING,
        MessageRow.folder == folder,
        MessageRow.uidvalidity != current,
        wanted,
    )
    by_sha: dict[str, list[tuple[int, list[str]]]] = {}
    by_mid: dict[str, list[tuple[int, list[str]]]] = {}
    for row in session.execute(query.order_by(MessageRow.id)):
        entry = (row.id, list(row.defects or []))
        by_sha.setdefault(row.sha256, []).append(entry)
        if row.header_message_id:
            by_mid.setdefault(row.header_message_id, []).append(entry)
    used: set[int] = set()
    for item in missing:
        candidates = by_sha.get(item.sha256, []) + by_mid.get(item.scan.message_id or "", [])
        match = next((c for c in candidates if c[0] not in used), None)
        if match is None:
            continue
        used.add(match[0])
        item.id, item.defects, item.rekeyed = match[0], match[1], True
        session.execute(
            update(MessageRow)
            .where(MessageRow.id == match[0])
            .values(uidvalidity=item.key.uidvalidity, uid=item.key.uid)
        )


def _mark_done(session: Session, items: list[Ingested]) -> None:
    """Flag re-keyed rows whose processing an earlier run finished (one query)."""
    ids = [i.id for i in items if i.rekeyed]
    if not ids:
        return
    done = set(session.scalars(select(KnownKey.message_id).where(KnownKey.message_id.in_(ids))))
    for item in items:
        item.done = item.rekeyed and item.id in done


def _row(account: str, folder: str, item: Ingested) -> dict[str, object]:
    scan = item.scan
    return {
        "direction": Direction.INCOMING,
        "account": account,
        "status": MessageStatus.RECEIVED,
        "folder": folder,
        "uidvalidity": item.key.uidvalidity,
        "uid": item.key.uid,
        "uidl": item.key.uidl,
        "header_message_id": scan.message_id,
        "subject": scan.subject,
        "from_": scan.from_,
        "date_header": scan.date_text,
        "sent_at": scan.date,
        "sha256": item.sha256,
        "size": len(item.raw),
        "defects": list(scan.defects),
        "annotations": {},
        "attempts": 0,
    }


_T: Table = MessageRow.__table__  # type: ignore[assignment]
_RAW: Table = MessageRaw.__table__  # type: ignore[assignment]
_ROW_COLUMNS = (
    "direction", "account", "status", "folder", "uidvalidity", "uid", "uidl", "header_message_id",
    "subject", "from_header", "date_header", "sent_at", "sha256", "size", "defects", "annotations",
    "attempts", "created_at", "updated_at",
)  # fmt: skip


class _SqliteInsert:
    """The ingest's two inserts compiled once for SQLite, with SQLAlchemy's value conversions.

    Run on the DB-API cursor: SQLAlchemy's per-row parameter handling costs more than the insert
    (PERFORMANCE.md), and ``lastrowid`` gives each new id without a RETURNING statement per row.
    The values every row of a batch shares are converted once per batch.
    """

    def __init__(self, dialect: Dialect) -> None:
        row = insert(_T).compile(dialect=dialect, column_keys=list(_ROW_COLUMNS))
        raw = insert(_RAW).compile(dialect=dialect, column_keys=["message_id", "raw"])
        assert isinstance(row, SQLCompiler) and isinstance(raw, SQLCompiler)
        assert sorted(row.positiontup or ()) == sorted(_ROW_COLUMNS), row.positiontup
        assert tuple(raw.positiontup or ()) == ("message_id", "raw"), raw.positiontup
        self.row, self.raw = row.string, raw.string
        self.order = [_ROW_COLUMNS.index(name) for name in row.positiontup or ()]
        self.convert = {name: converter(_T, name, dialect) for name in _ROW_COLUMNS}
        per_row = set(_ROW_COLUMNS) - set(_SHARED)
        unconverted = per_row - {"sent_at", "defects"}
        assert all(self.convert[name] is same for name in unconverted), "a column needs converting"

    def rows(self, account: str, folder: str, items: Sequence[Ingested]) -> list[tuple[Any, ...]]:
        """The rows of ``items`` as the driver takes them, in the statement's order."""
        now = utcnow()
        values: tuple[Any, ...] = (
            Direction.INCOMING,
            account,
            MessageStatus.RECEIVED,
            folder,
            {},
            0,
            now,
            now,
        )
        shared = {name: self.convert[name](value) for name, value in zip(_SHARED, values, strict=True)}
        direction, account_, status, folder_, annotations, attempts, created, updated = shared.values()
        sent_at, defects = self.convert["sent_at"], self.convert["defects"]
        order = self.order
        out = []
        for item in items:
            scan, key = item.scan, item.key
            plain = (
                direction, account_, status, folder_, key.uidvalidity, key.uid, key.uidl,
                scan.message_id, scan.subject, scan.from_, scan.date_text, sent_at(scan.date),
                item.sha256, len(item.raw), defects(list(scan.defects)), annotations, attempts,
                created, updated,
            )  # fmt: skip
            out.append(tuple(plain[i] for i in order))
        return out


_SHARED = ("direction", "account", "status", "folder", "annotations", "attempts", "created_at", "updated_at")


@lru_cache(maxsize=4)
def _sqlite_insert(dialect: Dialect) -> _SqliteInsert:
    return _SqliteInsert(dialect)


def _insert_sqlite(session: Session, account: str, folder: str, fresh: list[Ingested]) -> list[int]:
    sql = _sqlite_insert(session.get_bind().dialect)
    dbapi: Any = session.connection().connection.driver_connection
    cursor = dbapi.cursor()
    try:
        ids: list[int] = []
        for values in sql.rows(account, folder, fresh):
            cursor.execute(sql.row, values)
            ids.append(int(cursor.lastrowid))
        database = sqlite_path(session.get_bind().engine.url)
        if database is not None and sum(len(i.raw) for i in fresh) >= SEGMENT_MIN_BATCH:
            places = writer_for(database).append([i.raw for i in fresh])  # durable before the commit
            pointers = [
                {"message_id": mid, "raw": b"", "segment": name, "segment_offset": at, "segment_length": size}
                for mid, (name, at, size) in zip(ids, places, strict=True)
            ]
            insert_rows(session, _RAW, pointers)
            return ids
        small = [(mid, i.raw) for mid, i in zip(ids, fresh, strict=True) if len(i.raw) <= STREAM_ABOVE]
        if small:
            cursor.executemany(sql.raw, small)
    finally:
        cursor.close()
    for mid, item in zip(ids, fresh, strict=True):
        if len(item.raw) > STREAM_ABOVE:
            _write_blob(session, mid, item.raw)
    return ids


def _insert_any(session: Session, account: str, folder: str, fresh: list[Ingested]) -> list[int]:
    ids = list(
        session.scalars(
            insert(MessageRow).returning(MessageRow.id, sort_by_parameter_order=True),
            [_row(account, folder, i) for i in fresh],
        ).all()
    )
    raws = [{"message_id": mid, "raw": i.raw} for mid, i in zip(ids, fresh, strict=True)]
    session.execute(insert(MessageRaw), raws)
    return ids


def _insert(session: Session, account: str, folder: str, items: list[Ingested]) -> None:
    """Insert the new rows and their bytes in bulk; fall back to one by one if a writer raced us."""
    fresh = [i for i in items if not i.id]
    if not fresh:
        return
    try:
        with session.begin_nested():
            if _streamable(session):
                ids = _insert_sqlite(session, account, folder, fresh)
            else:
                ids = _insert_any(session, account, folder, fresh)
    except (IntegrityError, sqlite3.IntegrityError):  # another replicator stored some keys meanwhile
        for item in fresh:
            scan = item.scan
            stored = store_received(
                session,
                account,
                item.raw,
                folder=folder,
                uidvalidity=item.key.uidvalidity,
                uid=item.key.uid,
                uidl=item.key.uidl,
                headers=StoreScan(
                    message_id=scan.message_id,
                    subject=scan.subject,
                    from_=scan.from_,
                    date=scan.date_text,
                    sent_at=scan.date,
                ),
                defects=scan.defects,
            )
            item.id, item.created = stored.id, stored.created
            item.defects = list(scan.defects)
        return
    for mid, item in zip(ids, fresh, strict=True):
        item.id, item.created, item.defects = mid, True, list(item.scan.defects)


STREAM_ABOVE = 8 * 1024 * 1024
"""On SQLite, raw messages above this size are written through incremental blob I/O in pieces."""
_PIECE = 1024 * 1024


def _streamable(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _write_blob(session: Session, message_id: int, raw: bytes) -> None:
    """Store a big message's bytes in 1 MiB pieces, in the session's transaction.

    A bound parameter is copied by SQLite (and kept by the cached statement), which would hold the
    message twice more in memory; a zeroblob row written through ``blobopen`` holds it once.
    """
    session.execute(insert(MessageRaw).values(message_id=message_id, raw=func.zeroblob(len(raw))))
    dbapi: Any = session.connection().connection.driver_connection
    (rowid,) = dbapi.execute("SELECT rowid FROM message_raw WHERE message_id = ?", (message_id,)).fetchone()
    view = memoryview(raw)
    with dbapi.blobopen("message_raw", "raw", rowid) as blob:
        for start in range(0, len(view), _PIECE):
            blob.write(view[start : start + _PIECE])


def ingest(
    session: Session,
    *,
    account: str,
    folder: str,
    mails: Sequence[RawMail],
    uidvalidity_keys: bool,
    reconcile: bool,
    digests: Sequence[str] | None = None,
) -> list[Ingested]:
    """Store a fetched batch's raw bytes once per key; the caller's transaction is commit 1.

    Args:
        session: a writing session; committed by the caller.
        account: the account's name.
        folder: the folder replicated (``INBOX`` for POP3).
        mails: the batch as fetched, in order.
        uidvalidity_keys: keys are ``uidvalidity:uid`` (IMAP-like) rather than UIDLs.
        reconcile: match unknown keys against rows of an older UIDVALIDITY first.
        digests: the hex SHA-256 of each of ``mails``, when the fetch took them already.

    Returns:
        One entry per distinct key, in fetch order, each with its store id.
    """
    items = _prepare(mails, uidvalidity_keys, digests)
    if not items:
        return items
    _existing(session, account, folder, items)
    if reconcile and uidvalidity_keys:
        _reconcile(session, account, folder, items)
        _mark_done(session, items)
    _insert(session, account, folder, items)
    return items
