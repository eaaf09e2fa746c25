"""Turn an application's ``Message`` into the bytes and envelope the outbox stores, once, at enqueue.

Everything a retry must repeat is fixed here: the Message-ID and Date, the From (the account's
shared mailbox when it has one), the Sender (the account itself when it sends on behalf of the
shared mailbox), and the envelope. BCC recipients are only in the envelope, never in the bytes.
Outgoing transforms (S/MIME signing and encryption) run here too, so every attempt sends the same
bytes; a transform whose ``apply`` takes a ``recipients`` keyword gets the envelope recipients
(Bcc included), so encryption reaches Bcc recipients too (see ``Transform``).
"""

from __future__ import annotations

import hashlib
import inspect
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import attrs
from attrs import frozen

from mailconduit._errors import MessageError
from mailconduit._message import Address, Message
from mailconduit._model import Account
from mailconduit._protocols import Transform

__all__ = ["Prepared", "accepts_recipients", "prepare"]


@frozen(kw_only=True)
class Prepared:
    """A message ready for the outbox: its final bytes, envelope and the headers listings show."""

    raw: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    envelope_from: str
    recipients: tuple[str, ...]
    message_id: str
    date: datetime
    subject: str
    from_header: str

    @property
    def sha256(self) -> str:
        """The SHA-256 of the bytes, hex."""
        return hashlib.sha256(self.raw).hexdigest()


def accepts_recipients(transform: object) -> bool:
    """True when ``transform.apply`` has a keyword parameter ``recipients`` (the envelope's)."""
    try:
        parameters = inspect.signature(transform.apply).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return False
    parameter = parameters.get("recipients")
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return parameter is not None and parameter.kind in keyword


def _new_message_id(domain: str) -> str:
    host = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    return f"<{secrets.token_hex(16)}@{host}>"


def prepare(
    account: Account, message: Message, *, now: datetime, transforms: Sequence[Transform] = ()
) -> Prepared:
    """Compose ``message`` for ``account``: the bytes and envelope every attempt will send.

    Args:
        account: the sending account.
        message: the message; ``from_`` defaults to the account's mailbox (the shared mailbox
            when there is one) with the account's display name.
        now: the time for the Date header when the message has none (aware).
        transforms: outgoing transforms to apply to the composed bytes, in order; those whose
            ``apply`` takes ``recipients`` get every envelope recipient (To, Cc, Bcc) as Addresses.

    Raises:
        MessageError: no recipients, or the message cannot be composed (the error names the field).
    """
    from mailconduit._mime import compose

    if not message.recipients:
        raise MessageError("message: no recipients; give at least one of to, cc or bcc")
    from_ = message.from_ or Address(account.mailbox, account.display_name)
    sender = message.sender
    if (
        sender is None
        and account.send is not None
        and account.send.send_on_behalf
        and from_.addr_spec.lower() != account.email.lower()
    ):
        sender = Address(account.email, account.display_name)
    date = message.date or now
    date = date if date.tzinfo else date.replace(tzinfo=UTC)
    message_id = message.message_id or _new_message_id(from_.domain)
    final = attrs.evolve(message, from_=from_, sender=sender, date=date, message_id=message_id)
    raw = compose(final)
    envelope = tuple(message.recipients)
    for transform in transforms:
        if accepts_recipients(transform):
            raw = transform.apply(raw, recipients=envelope).data  # type: ignore[call-arg]
        else:
            raw = transform.apply(raw).data
    envelope_from = (sender or from_).addr_spec
    mid = message_id.strip()
    return Prepared(
        raw=raw,
        envelope_from=envelope_from,
        recipients=tuple(a.addr_spec for a in message.recipients),
        message_id=mid if mid.startswith("<") else f"<{mid}>",
        date=date,
        subject=message.subject,
        from_header=str(from_),
    )
