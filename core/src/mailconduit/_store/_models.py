"""The store's tables as SQLAlchemy 2 typed declarative models (the schema at the newest migration).

Accounts are configuration, not rows: rows name their account. Raw message bytes live in
``message_raw`` and attachment contents are deferred, so listings never load blobs. Secrets and
token caches hold Fernet tokens only (``mailconduit._crypto``), never plaintext.

The migrations in ``migrations/versions`` create exactly this schema; a test compares the two.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column

from mailconduit._message import MessageStatus
from mailconduit._store._columns import BigIntId, JsonColumn, StrEnumColumn, UtcDateTime, utcnow
from mailconduit._types import Direction

__all__ = [
    "Attachment",
    "Base",
    "Direction",
    "EmailLog",
    "FolderSync",
    "KnownKey",
    "LearntCertificate",
    "LogLevel",
    "MessageRaw",
    "MessageRow",
    "PendingAction",
    "PendingChange",
    "PendingState",
    "RunnerStatus",
    "SecretRow",
    "TemplateRow",
    "TokenCache",
]

# Stable constraint names on every backend, so later migrations can name what they alter.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME = 200  # account, secret and template names
FOLDER = 1000  # IMAP folder names (decoded, full path)
ADDRESS = 320  # an e-mail address (RFC 5321: 64 + @ + 255)


class LogLevel(enum.StrEnum):
    """Severity of an email-log entry, in increasing order."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Position in the order debug < info < warning < error."""
        return list(LogLevel).index(self)


class PendingAction(enum.StrEnum):
    """A change to make on the server after a batch's results are committed."""

    DELETE = "delete"
    MOVE = "move"
    FLAG = "flag"


class PendingState(enum.StrEnum):
    """Whether a pending server change has been made yet."""

    PENDING = "pending"
    APPLIED = "applied"


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class MessageRow(Base):
    """One message, received (replicated from a server) or outgoing (in the outbox or sent).

    Received messages are keyed exactly once by ``(account, folder, uidvalidity, uid)`` (IMAP) or
    ``(account, uidl)`` (POP3); outgoing ones leave those NULL, which the unique constraints allow.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("account", "folder", "uidvalidity", "uid"),
        UniqueConstraint("account", "uidl"),
        Index(None, "account", "sha256"),
        Index(None, "account", "header_message_id"),
        Index(None, "direction", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    direction: Mapped[Direction] = mapped_column(StrEnumColumn(Direction, 16))
    account: Mapped[str] = mapped_column(String(NAME))
    status: Mapped[MessageStatus] = mapped_column(StrEnumColumn(MessageStatus, 16))
    folder: Mapped[str | None] = mapped_column(String(FOLDER))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    uidl: Mapped[str | None] = mapped_column(String(255))
    header_message_id: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    from_: Mapped[str | None] = mapped_column("from_header", Text)
    date_header: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    defects: Mapped[list[str]] = mapped_column(JsonColumn, default=list)
    annotations: Mapped[dict[str, Any]] = mapped_column(JsonColumn, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # outbox
    envelope_from: Mapped[str | None] = mapped_column(Text)
    recipients: Mapped[list[str] | None] = mapped_column(JsonColumn)
    scheduled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(NAME))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class MessageRaw(Base):
    """The original bytes of a message, exactly; apart from ``messages`` so listings skip them.

    Read them with ``_repo_messages.raw_bytes``: on SQLite the bytes of a large replicated batch
    are in a segment file and the row says where (``segment``, ``segment_offset``,
    ``segment_length``).
    """

    __tablename__ = "message_raw"

    message_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # SQLite, large batches: the bytes are in a segment file (``_segments``) and ``raw`` is empty
    segment: Mapped[str | None] = mapped_column(String(64))
    segment_offset: Mapped[int | None] = mapped_column(BigInteger)
    segment_length: Mapped[int | None] = mapped_column(BigInteger)


class Attachment(Base):
    """An attachment of a stored message; ``content`` loads only when read."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(255))
    content_id: Mapped[str | None] = mapped_column(Text)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))


class FolderSync(Base):
    """How far replication of one account's folder has got (POP3 uses the folder ``INBOX``)."""

    __tablename__ = "folder_state"

    account: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    folder: Mapped[str] = mapped_column(String(FOLDER), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class PendingChange(Base):
    """A server change committed with a batch's results and applied after it.

    ``delete``, ``move`` (to ``target_folder``) or ``flag`` (the space-separated ``flags``).
    """

    __tablename__ = "pending_changes"
    __table_args__ = (Index(None, "state", "message_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    message_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("messages.id", ondelete="CASCADE"))
    action: Mapped[PendingAction] = mapped_column(StrEnumColumn(PendingAction, 16))
    target_folder: Mapped[str | None] = mapped_column(String(FOLDER))
    flags: Mapped[str | None] = mapped_column(Text)
    state: Mapped[PendingState] = mapped_column(StrEnumColumn(PendingState, 16), default=PendingState.PENDING)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class EmailLog(Base):
    """One line of the email log: what happened to which account's message, and when."""

    __tablename__ = "email_log"
    __table_args__ = (Index(None, "account", "time"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    level: Mapped[LogLevel] = mapped_column(StrEnumColumn(LogLevel, 16))
    account: Mapped[str | None] = mapped_column(String(NAME))
    message_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("messages.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)


class TemplateRow(Base):
    """A stored template: its definition as JSON (subject, bodies, engine, attachments)."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class SecretRow(Base):
    """A named secret, as a Fernet token (never plaintext)."""

    __tablename__ = "secrets"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    token: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class TokenCache(Base):
    """An account's OAuth token cache, as a Fernet token (never plaintext)."""

    __tablename__ = "token_cache"

    account: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    token: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class KnownKey(Base):
    """A server key replication is finished with, so later runs do not fetch it again.

    Written with a batch's results for every message all steps accepted (``message_id`` set), and by
    ``adopt`` for what a folder held when it was adopted (``message_id`` NULL: never downloaded).
    Only keys of the folder's current UIDVALIDITY count; POP3 keys (UIDLs) have none.
    """

    __tablename__ = "known_keys"
    __table_args__ = (Index(None, "account", "folder", "uidvalidity"),)

    account: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    folder: Mapped[str] = mapped_column(String(FOLDER), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("messages.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LearntCertificate(Base):
    """A certificate an incoming transform learnt from received mail (a valid signature's signer).

    One row per account, address the certificate names (lower case) and certificate (its SHA-256
    over the DER); written with a batch's results (commit 2), read by the core's ``received``
    certificate source when mail is encrypted. ``message_id`` is the latest message that taught
    it (NULL once that message is deleted); ``first_seen_at`` / ``last_seen_at`` when it was
    first and last learnt.
    """

    __tablename__ = "learnt_certificates"

    account: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    address: Mapped[str] = mapped_column(String(ADDRESS), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str] = mapped_column(Text)
    addresses: Mapped[list[str]] = mapped_column(JsonColumn)
    key_usage: Mapped[list[str]] = mapped_column(JsonColumn)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[datetime] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    message_id: Mapped[int | None] = mapped_column(BigIntId, ForeignKey("messages.id", ondelete="SET NULL"))


class RunnerStatus(Base):
    """What a runner last reported about one of its jobs: a pipeline or an account's outbox worker.

    One row per job (``kind``, ``name``), overwritten by whichever runner process runs it, so
    ``mailconduit status`` and the health endpoint read the same facts on every machine.
    """

    __tablename__ = "runner_status"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    account: Mapped[str | None] = mapped_column(String(NAME))
    folder: Mapped[str | None] = mapped_column(String(FOLDER))
    runner: Mapped[str | None] = mapped_column(String(NAME))
    state: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str | None] = mapped_column(String(16))
    interval_seconds: Mapped[float | None] = mapped_column(Float)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lag: Mapped[int | None] = mapped_column(Integer)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
