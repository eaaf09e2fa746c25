"""The value types that hooks, transports and actions exchange with the core.

These are the settled contract plugins build against: credentials an authenticator hands a
transport, certificates a source offers, transforms and their results, what a mailbox reports and
returns, and what a replication run tells the lifecycle hooks.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from attrs import define, field

from mailconduit._message import Address
from mailconduit._secret import Secret

__all__ = [
    "ActionResult",
    "Certificate",
    "Credentials",
    "Direction",
    "FolderInfo",
    "FolderState",
    "MessageRef",
    "RawMail",
    "RecipientResult",
    "RunInfo",
    "RunResult",
    "SendResult",
    "Stage",
    "StoredBatch",
    "StoredMessage",
    "TransformResult",
]


@define(kw_only=True, eq=False)
class Credentials:
    """What an authenticator gives a transport to log in.

    Attributes:
        kind: ``password`` (LOGIN / AUTH PLAIN / USER+PASS) or ``bearer`` (XOAUTH2 / OAUTHBEARER).
        username: the authentication identity (who logs in).
        authzid: the authorization identity, the mailbox acted on, when it differs from
            ``username`` (a shared mailbox, app-only access); None otherwise.
        secret: the password or the access token.
        expires_at: when a bearer token stops working (UTC); None for passwords.
        refresher: called by :meth:`refresh`; returns fresh credentials. None when they cannot be
            renewed (passwords).

    A long session calls :meth:`refresh` when ``expires_within`` says the token is about to lapse.
    """

    kind: Literal["password", "bearer"]
    username: str
    secret: Secret
    authzid: str | None = None
    expires_at: datetime | None = None
    refresher: Callable[[], Credentials] | None = field(default=None, repr=False)

    @property
    def mailbox_user(self) -> str:
        """The user whose mailbox is opened: ``authzid`` if set, else ``username``."""
        return self.authzid or self.username

    def expires_within(self, margin: timedelta, now: datetime) -> bool:
        """True when the credentials expire within ``margin`` of ``now`` (never for passwords)."""
        return self.expires_at is not None and self.expires_at - now <= margin

    def refresh(self) -> Credentials:
        """Return renewed credentials from the authenticator, or these when they never expire."""
        return self.refresher() if self.refresher is not None else self


@define(frozen=True, kw_only=True)
class Certificate:
    """An X.509 certificate as DER bytes with the facts the core needs to choose one.

    Attributes:
        der: the certificate, DER-encoded.
        subject: the subject as an RFC 4514 string.
        addresses: e-mail addresses the certificate names (SAN rfc822Name and subject emailAddress).
        not_before, not_after: the validity period (UTC).
        key_usage: names of the key usages it allows (``digitalSignature``, ``keyEncipherment`` ...);
            empty when the certificate does not restrict them.
        source: which source provided it (``ldap``, ``files``, ``received``), for diagnostics.
    """

    der: bytes = field(repr=lambda b: f"<{len(b)} bytes>")
    subject: str
    addresses: frozenset[str]
    not_before: datetime
    not_after: datetime
    key_usage: frozenset[str] = frozenset()
    source: str = ""

    def valid_at(self, when: datetime) -> bool:
        """True when ``when`` lies inside the validity period."""
        return self.not_before <= when <= self.not_after

    def names(self, address: Address | str) -> bool:
        """True when the certificate names ``address`` (compared case-insensitively)."""
        wanted = address.addr_spec if isinstance(address, Address) else address
        return wanted.lower() in {a.lower() for a in self.addresses}


class Direction(enum.StrEnum):
    """Whether a transform applies to mail going out or coming in."""

    OUTGOING = "outgoing"
    INCOMING = "incoming"


class Stage(enum.IntEnum):
    """When a transform runs; the core applies transforms in ascending stage order.

    Outgoing mail is signed before it is encrypted; incoming mail is decrypted before it is verified.
    """

    SIGN = 10
    ENCRYPT = 20
    DECRYPT = 30
    VERIFY = 40


@define(frozen=True, kw_only=True)
class TransformResult:
    """What a transform made of a message.

    Attributes:
        data: the message bytes after the transform (unchanged bytes when it only inspected them).
        annotations: facts to store with the message, such as ``{"smime.signer": "alice@...",
            "smime.signature": "valid"}`` or ``{"smime.decrypted": "yes"}``.
        certificates: certificates an incoming transform learnt from the message and vouches for,
            such as the signer certificate of a valid signature whose address matches the From.
            Replication stores them with the batch's results (per account and address named in
            each certificate); the core's ``received`` certificate source then offers them to
            ``recipient_certificates`` in every later process. Empty by default; outgoing
            transforms' certificates are ignored.
    """

    data: bytes = field(repr=lambda b: f"<{len(b)} bytes>")
    annotations: Mapping[str, str] = field(factory=dict)
    certificates: Sequence[Certificate] = field(factory=tuple)


@define(frozen=True, kw_only=True)
class RecipientResult:
    """How the server answered one recipient: accepted, or refused with its code and reply."""

    address: str
    accepted: bool
    code: int | None = None
    reply: str = ""


@define(frozen=True, kw_only=True)
class SendResult:
    """What a send session reports for one message.

    Attributes:
        recipients: one result per envelope recipient; refused ones did not get the message.
        reply: the server's final reply to the message data (``250 2.0.0 Ok: queued as ...``).
    """

    recipients: Sequence[RecipientResult]
    reply: str = ""

    @property
    def refused(self) -> list[RecipientResult]:
        """The recipients the server refused."""
        return [r for r in self.recipients if not r.accepted]


@define(frozen=True, kw_only=True)
class FolderInfo:
    """A folder as the server lists it: full name, decoded, its parent delimiter and flags."""

    name: str
    delimiter: str | None = None
    flags: frozenset[str] = frozenset()

    @property
    def special_use(self) -> str | None:
        r"""The RFC 6154 special use (``\\Sent``, ``\\Trash`` ...) if the server declared one."""
        uses = {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
        found = sorted(self.flags & uses)
        return found[0] if found else None


@define(frozen=True, kw_only=True)
class FolderState:
    """What a folder holds now: its UIDVALIDITY (None for POP3) and how many messages."""

    folder: str
    uidvalidity: int | None
    exists: int
    uidnext: int | None = None


@define(frozen=True)
class MessageRef:
    """One message on the server: its UID (IMAP) or UIDL (POP3) and, where known, its size."""

    key: str
    size: int | None = None


@define(frozen=True, kw_only=True)
class RawMail:
    """The bytes of one fetched message, exactly as the server sent them."""

    ref: MessageRef
    data: bytes = field(repr=lambda b: f"<{len(b)} bytes>")
    flags: frozenset[str] = frozenset()
    internal_date: datetime | None = None


@define(frozen=True, kw_only=True)
class StoredMessage:
    """A received message as the store holds it, handed to pipeline actions.

    Attributes:
        id: the store's id for the message.
        account, folder: where it came from.
        key: the server-side key (``uidvalidity:uid`` for IMAP, the UIDL for POP3).
        sha256: hex digest of the raw bytes.
        message_id, subject, from_, date: from the cheap header scan (None when absent).
        defects: parse defects recorded for the message.
        annotations: what transforms recorded (signature, decryption).
        raw: a callable returning the original bytes, exactly.
    """

    id: int
    account: str
    folder: str
    key: str
    sha256: str
    size: int
    message_id: str | None = None
    subject: str | None = None
    from_: str | None = None
    date: str | None = None
    defects: Sequence[str] = ()
    annotations: Mapping[str, str] = field(factory=dict)
    raw: Callable[[], bytes] = field(repr=False, eq=False)


@define(frozen=True, kw_only=True)
class ActionResult:
    """A pipeline action's verdict on one message: accepted, or rejected with a reason.

    A rejected message stays on the server untouched and is retried next run.
    """

    accepted: bool = True
    reason: str = ""
    annotations: Mapping[str, str] = field(factory=dict)


@define(kw_only=True)
class RunInfo:
    """Which replication run a lifecycle hook is about.

    Attributes:
        run_id: unique id of the run.
        account: the account's name.
        folder: the folder replicated (``INBOX`` for POP3).
        protocol: the receive protocol (``imap``, ``pop3``, ``memory``).
        started_at: when the run began (UTC).
        mode: ``once``, ``idle`` or ``polling``.
        cancel: set it to ask the run to stop after the batch in hand.
    """

    run_id: str
    account: str
    folder: str
    protocol: str
    started_at: datetime
    mode: Literal["once", "idle", "polling"] = "once"
    cancel: threading.Event = field(factory=threading.Event, repr=False, eq=False)


@define(frozen=True, kw_only=True)
class StoredBatch:
    """One batch of a replication run, after its results and pending server changes are committed.

    Attributes:
        messages: the messages of the batch as now stored.
        accepted: store ids of the messages every step accepted; only these get the
            after-replication action.
        rejected: store id -> reason, for messages a step rejected.
        new: store ids stored for the first time in this batch (the rest were already known).
    """

    messages: Sequence[StoredMessage]
    accepted: frozenset[int]
    rejected: Mapping[int, str] = field(factory=dict)
    new: frozenset[int] = frozenset()


@define(frozen=True, kw_only=True)
class RunResult:
    """The outcome of one finished replication run.

    Attributes:
        fetched: messages downloaded.
        stored: messages stored for the first time.
        known: messages recognised as already stored (not stored twice).
        failed: messages a step rejected or that could not be processed.
        moved, deleted: messages the after-replication action moved or deleted.
        remaining: messages still on the server beyond this run's limit (0 = caught up).
        duration: wall time of the run.
        mode: ``once``, ``idle`` or ``polling``.
    """

    fetched: int = 0
    stored: int = 0
    known: int = 0
    failed: int = 0
    moved: int = 0
    deleted: int = 0
    remaining: int = 0
    duration: timedelta = timedelta(0)
    mode: Literal["once", "idle", "polling"] = "once"
