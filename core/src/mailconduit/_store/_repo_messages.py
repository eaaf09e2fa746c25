"""Received messages: store raw bytes exactly once per server key, and read them back.

The key is ``(account, folder, uidvalidity, uid)`` for IMAP and ``(account, uidl)`` for POP3
(DESIGN.md, Semantics). Storing a message whose key is known returns the existing id and changes
nothing, so a re-fetched message is never stored twice, even by two writers at once. Read the bytes
with ``raw_bytes``/``raw_bytes_of``, never ``MessageRaw.raw`` directly: on SQLite, large batches
keep them in segment files (``_segments``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from attrs import define
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailconduit._errors import StoreError
from mailconduit._message import MessageStatus
from mailconduit._store._engine import sqlite_path
from mailconduit._store._models import Direction, MessageRaw, MessageRow
from mailconduit._store._segments import read_segment, segment_dir

__all__ = ["HeaderScan", "Stored", "find_received", "raw_bytes", "raw_bytes_of", "store_received"]


@define(frozen=True, kw_only=True)
class HeaderScan:
    """What the cheap header-block scan found (None where a header is absent)."""

    message_id: str | None = None
    subject: str | None = None
    from_: str | None = None
    date: str | None = None
    sent_at: datetime | None = None


@define(frozen=True)
class Stored:
    """The outcome of :func:`store_received`: the message's id and whether this call stored it."""

    id: int
    created: bool


def _check_key(folder: str | None, uidvalidity: int | None, uid: int | None, uidl: str | None) -> None:
    imap = uidvalidity is not None or uid is not None
    if imap and (folder is None or uidvalidity is None or uid is None):
        raise ValueError("an IMAP key needs folder, uidvalidity and uid together")
    if imap == (uidl is not None):
        raise ValueError("give either an IMAP key (folder, uidvalidity, uid) or a POP3 uidl, not both")


def find_received(
    session: Session,
    account: str,
    *,
    folder: str | None = None,
    uidvalidity: int | None = None,
    uid: int | None = None,
    uidl: str | None = None,
) -> int | None:
    """The id of the message stored under this key, or None."""
    _check_key(folder, uidvalidity, uid, uidl)
    query = select(MessageRow.id).where(MessageRow.account == account)
    if uidl is not None:
        query = query.where(MessageRow.uidl == uidl)
    else:
        query = query.where(
            MessageRow.folder == folder, MessageRow.uidvalidity == uidvalidity, MessageRow.uid == uid
        )
    return session.scalars(query).first()


def store_received(
    session: Session,
    account: str,
    raw: bytes,
    *,
    folder: str | None = None,
    uidvalidity: int | None = None,
    uid: int | None = None,
    uidl: str | None = None,
    headers: HeaderScan | None = None,
    defects: Sequence[str] = (),
) -> Stored:
    """Store a received message's raw bytes under its server key, once.

    Args:
        session: an open session; the message is committed with its transaction.
        account: the account's name in the config.
        raw: the message exactly as the server sent it.
        folder: the IMAP folder (with ``uidvalidity`` and ``uid``); may name INBOX for POP3.
        uidvalidity: the folder's UIDVALIDITY (IMAP).
        uid: the message's UID (IMAP).
        uidl: the message's UIDL (POP3), instead of the IMAP key.
        headers: what the header scan found.
        defects: problems the scan recorded.

    Returns:
        The id and ``created=True``, or the existing message's id and ``created=False``.

    Raises:
        ValueError: the key is incomplete or mixes IMAP and POP3.
    """
    existing = find_received(session, account, folder=folder, uidvalidity=uidvalidity, uid=uid, uidl=uidl)
    if existing is not None:
        return Stored(existing, created=False)
    scan = headers or HeaderScan()
    row = MessageRow(
        direction=Direction.INCOMING,
        account=account,
        status=MessageStatus.RECEIVED,
        folder=folder,
        uidvalidity=uidvalidity,
        uid=uid,
        uidl=uidl,
        header_message_id=scan.message_id,
        subject=scan.subject,
        from_=scan.from_,
        date_header=scan.date,
        sent_at=scan.sent_at,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        defects=list(defects),
        annotations={},
        attempts=0,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            session.add(MessageRaw(message_id=row.id, raw=raw))
            session.flush()
    except IntegrityError:  # another writer stored the same key since the lookup
        existing = find_received(session, account, folder=folder, uidvalidity=uidvalidity, uid=uid, uidl=uidl)
        if existing is None:
            raise
        return Stored(existing, created=False)
    return Stored(row.id, created=True)


def raw_bytes(session: Session, message_id: int) -> bytes | None:
    """The stored raw bytes of a message, or None when there is no such message.

    Raises:
        StoreError: the bytes are in a segment file that is missing or damaged.
    """
    return raw_bytes_of(session, [message_id]).get(message_id)


def raw_bytes_of(session: Session, message_ids: Sequence[int]) -> dict[int, bytes]:
    """The stored raw bytes of the messages that exist among ``message_ids``, by id (one query).

    Raises:
        StoreError: bytes in a segment file that is missing or damaged.
    """
    if not message_ids:
        return {}
    query = select(
        MessageRaw.message_id,
        MessageRaw.raw,
        MessageRaw.segment,
        MessageRaw.segment_offset,
        MessageRaw.segment_length,
    ).where(MessageRaw.message_id.in_(message_ids))
    out: dict[int, bytes] = {}
    directory: Path | None = None
    for row in session.execute(query):
        if row.segment is None:
            out[row.message_id] = row.raw
            continue
        if directory is None:
            database = sqlite_path(session.get_bind().engine.url)
            if database is None:
                raise StoreError(
                    f"message {row.message_id} points into a segment file, but this store is not a SQLite "
                    "file: its rows were copied from a SQLite store without the bytes of its .segments "
                    "directory"
                )
            directory = segment_dir(database)
        offset, length = row.segment_offset or 0, row.segment_length or 0
        try:
            out[row.message_id] = read_segment(directory, row.segment, offset, length)
        except StoreError as exc:
            raise StoreError(f"the raw bytes of message {row.message_id}: {exc}") from exc
    return out
