"""The typing.Protocols for what plugins provide: transports, authenticators, actions, engines, transforms.

Each protocol is small on purpose so a user can write one; ``mailconduit.testing`` has a contract
suite for each, and the built-in ``memory`` transport passes the same suites as the real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from mailconduit._message import Message, Template
from mailconduit._model import Account
from mailconduit._types import (
    ActionResult,
    Credentials,
    Direction,
    FolderInfo,
    FolderState,
    MessageRef,
    RawMail,
    SendResult,
    Stage,
    StoredMessage,
    TransformResult,
)

__all__ = [
    "MAILBOX_CAPABILITIES",
    "Action",
    "ActionContext",
    "Authenticator",
    "FlaggingMailbox",
    "Mailbox",
    "ProbingTransport",
    "ReceiveTransport",
    "SendSession",
    "SendTransport",
    "TemplateEngine",
    "Transform",
]

MAILBOX_CAPABILITIES = frozenset({"folders", "uidvalidity", "delete", "move", "copy", "idle", "flags"})
"""Capability names a ``Mailbox`` may report."""


@runtime_checkable
class SendSession(Protocol):
    """An open, logged-in connection that sends many messages; the outbox reuses it."""

    def send(self, envelope_from: str, recipients: Sequence[str], data: bytes) -> SendResult:
        """Send ``data`` (RFC 5322 bytes, CRLF line ends) to ``recipients``.

        Returns a result per recipient; raises ``ServerReplyError`` (with ``temporary`` set from the
        reply class) when the whole message was refused, ``TransportError`` when the connection failed.
        """
        ...

    def close(self) -> None:
        """End the session politely (QUIT); never raises."""
        ...


@runtime_checkable
class SendTransport(Protocol):
    """Opens send sessions for an account (``smtp``, ``memory``, or one of your own)."""

    def open(self, account: Account, credentials: Credentials | None) -> SendSession:
        """Connect, secure and log in with ``credentials`` (None when the server needs no login)."""
        ...


@runtime_checkable
class Mailbox(Protocol):
    """An open, logged-in connection to an account's mail on a server."""

    def capabilities(self) -> frozenset[str]:
        """What this mailbox can do, from the names in ``MAILBOX_CAPABILITIES``.

        ``folders`` (more than INBOX), ``uidvalidity`` (keys survive only while it holds), ``delete``
        (exactly the given messages: IMAP needs UIDPLUS, POP3 needs UIDL), ``move`` (atomic MOVE;
        without it the core copies then deletes), ``idle`` (``wait`` wakes on new mail).
        The core checks these before it fetches anything, so an impossible after-replication
        action fails up front.
        """
        ...

    def folders(self) -> list[FolderInfo]:
        """List the folders (POP3: just ``INBOX``)."""
        ...

    def state(self, folder: str) -> FolderState:
        """Select ``folder`` and report its UIDVALIDITY and size."""
        ...

    def list_new(
        self, folder: str, known: Iterable[str], oldest_first: bool, limit: int | None
    ) -> list[MessageRef]:
        """Return up to ``limit`` messages of ``folder`` whose keys are not in ``known``.

        Ordered oldest first or latest first as asked; None means no limit.
        """
        ...

    def fetch(self, folder: str, refs: Sequence[MessageRef]) -> Iterator[RawMail]:
        """Yield the raw bytes of ``refs``, pipelined; must not mark anything as seen."""
        ...

    def delete(self, folder: str, refs: Sequence[MessageRef]) -> None:
        """Delete exactly ``refs`` (never a whole-folder expunge)."""
        ...

    def move(self, folder: str, refs: Sequence[MessageRef], target: str) -> None:
        """Move exactly ``refs`` to ``target``, which must exist."""
        ...

    def wait(self, folder: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for new mail (IMAP IDLE); False on timeout or if unsupported."""
        ...

    def close(self) -> None:
        """Log out and close the connection; never raises."""
        ...


@runtime_checkable
class FlaggingMailbox(Mailbox, Protocol):
    """A mailbox that can set flags (``flags`` in its capabilities): IMAP ``UID STORE +FLAGS``."""

    def add_flags(self, folder: str, refs: Sequence[MessageRef], flags: Sequence[str]) -> None:
        r"""Add ``flags`` (``\Seen``, ``\Flagged``, keywords) to exactly ``refs``."""
        ...


@runtime_checkable
class ReceiveTransport(Protocol):
    """Opens mailboxes for an account (``imap``, ``pop3``, ``memory``, or one of your own)."""

    def open(self, account: Account, credentials: Credentials | None) -> Mailbox:
        """Connect, secure and log in with ``credentials``."""
        ...


@runtime_checkable
class ProbingTransport(Protocol):
    """Optional for a send or receive transport: check a connection without sending or fetching mail.

    ``mailconduit check ACCOUNT`` calls it for each direction whose transport has it.
    """

    def probe(self, account: Account, credentials: Credentials | None) -> Mapping[str, Any]:
        """Connect, secure, log in and report what the server offers; never raise for a failure.

        Returns a mapping with ``ok`` (bool); on failure ``problem`` (a short key such as
        ``tls_name_mismatch``, ``auth_rejected``, ``timeout``, ``refused``), ``explanation`` and
        ``diagnosis``; anything else the transport learnt (extensions, TLS version, certificate).
        """
        ...


@runtime_checkable
class Authenticator(Protocol):
    """Turns an account into credentials for a protocol (``password``, ``entra_oauth``)."""

    def credentials(self, account: Account, protocol: str) -> Credentials:
        """Return credentials for ``account`` to use with ``protocol`` (``smtp``, ``imap``, ``pop3``).

        Raises ``ConfigError`` when the account's auth settings are not this authenticator's.
        """
        ...


@runtime_checkable
class ActionContext(Protocol):
    """What a pipeline action may use besides the message: the account, the store, the log."""

    @property
    def account(self) -> Account:
        """The account the message was received for."""
        ...

    def log(self, level: str, text: str) -> None:
        """Write an entry to the account's email log (level ``info``, ``warning`` or ``error``)."""
        ...

    def keep(self, message: StoredMessage, facts: Mapping[str, str]) -> None:
        """Record ``facts`` about ``message`` in the store, durably, with the batch's results."""
        ...

    @property
    def pipeline(self) -> str | None:
        """The name of the pipeline running the step (None for ``replicate`` called from Python)."""
        ...

    @property
    def config(self) -> Any:
        """The ``mailconduit.Config`` the run was started from (other accounts, templates), or None.

        Typed ``Any`` here only so that this module stays free of the configuration machinery.
        """
        ...

    def queue(self, message: Message, *, account: str | None = None, at: datetime | None = None) -> None:
        """Queue ``message`` in the outbox of ``account`` (default: the receiving account).

        It is composed now (Message-ID, Date, outgoing transforms) and written with the batch's
        results, so a crash before that commit queues nothing and the rerun queues it once.

        Raises:
            LookupError: no such account; ConfigError: it cannot send; MessageError: the message
                cannot be composed. The step fails and its message is marked, as for any raise.
        """
        ...

    def change_on_server(
        self, message: StoredMessage, *, move_to: str | None = None, add_flags: Sequence[str] = ()
    ) -> None:
        """Ask for ``message`` to be flagged and/or moved on the server once every step accepted it.

        The change is recorded with the batch's results and applied with the after-replication
        action (flags first, then the move, which replaces the pipeline's own move or delete). A
        message some step rejected is left untouched on the server.

        Raises:
            ValueError: a flag holds a space, CR, LF or NUL, or nothing was asked.
        """
        ...

    def template(self, name: str) -> Template:
        """The template ``name``: from the store, else from the configured templates folder.

        Raises:
            LookupError: no such template (the message says where it looked).
        """
        ...


@runtime_checkable
class Action(Protocol):
    """A per-message pipeline step (``store``, ``log``, ``webhook`` ...), configured in the YAML.

    An action that changes the server (``move``, ``flag``) may also define
    ``check_mailbox(mailbox, capabilities, *, account, folder, pipeline)``: the run calls it once,
    after the core's own mailbox checks and before anything is fetched, so an impossible change (a
    missing target folder, a server without flags) fails the run up front with a ``ConfigError``
    instead of leaving a change pending that the server would refuse.
    """

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """Process one stored message; reject it (``accepted=False``) to leave it on the server.

        Raising is treated as a rejection with the exception as the reason; the batch goes on.
        """
        ...


@runtime_checkable
class TemplateEngine(Protocol):
    """Renders template source with data (the built-in ``jinja2`` engine is sandboxed)."""

    def render(self, source: str, data: Mapping[str, Any], *, name: str, autoescape: bool) -> str:
        """Render ``source`` with ``data``; ``name`` is used in errors (``template 'x', field 'html'``).

        Raises ``TemplateError`` naming the template and line for a syntax error or a missing
        placeholder, and ``RenderLimitError`` when the render exceeds its time or size budget.
        """
        ...


@runtime_checkable
class Transform(Protocol):
    """A change applied to whole messages in one direction at one stage (sign, encrypt, decrypt, verify).

    Envelope recipients: the bytes of an outgoing message do not name its Bcc recipients, yet an
    encrypting transform must encrypt to them too. An outgoing transform whose ``apply`` has a
    keyword parameter named ``recipients`` (with a default, so ``apply(data)`` keeps working) is
    called by the outbox as ``apply(data, recipients=(Address, ...))`` with every envelope
    recipient: To, then Cc, then Bcc, without duplicates. Transforms without that parameter get
    the bytes alone, as before. ``TransformContract`` checks both forms.

    Certificates: a transform with a ``bind_certificates(lookup)`` method is handed, each time the
    core collects transforms, ``lookup(addresses) -> {address: [Certificate, ...]}``: every
    ``recipient_certificates`` source of the core's plugin set merged (the store-backed
    ``received`` source included). An incoming transform reports certificates it learnt from a
    message (a valid signature's signer) in ``TransformResult.certificates``; replication stores
    them and that source offers them later.
    """

    @property
    def direction(self) -> Direction:
        """Whether it applies to outgoing or incoming mail."""
        ...

    @property
    def stage(self) -> Stage:
        """When it runs relative to other transforms of the same direction."""
        ...

    def apply(self, data: bytes) -> TransformResult:
        """Transform the message bytes; the input is never modified in place.

        An outgoing transform may add ``*, recipients: Sequence[Address] | None = None`` to get the
        envelope recipients (see the class docstring).
        """
        ...
