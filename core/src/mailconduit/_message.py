"""Value types of mail as applications see it: addresses, attachments, outgoing messages, templates."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from attrs import define, field, validators

__all__ = ["Address", "Attachment", "Message", "MessageStatus", "SendOptions", "Template"]


class MessageStatus(enum.StrEnum):
    """Where a message stands in the store: drafted, queued, sending, sent, failed, or received."""

    DRAFT = "draft"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    RECEIVED = "received"


@define(frozen=True)
class Address:
    """One mailbox: ``addr_spec`` (``local@domain``) and an optional display name.

    Build one from text with ``mailconduit.parse_address``, which refuses anything it cannot parse
    exactly (RELIABILITY.md C7) instead of guessing.
    """

    addr_spec: str = field(validator=validators.min_len(3))
    display_name: str | None = None

    @property
    def domain(self) -> str:
        """The part after the last ``@``."""
        return self.addr_spec.rpartition("@")[2]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.addr_spec}>" if self.display_name else self.addr_spec


@define(frozen=True, kw_only=True)
class Attachment:
    """A file carried by a message: a normal attachment, or an inline part referenced by ``cid:``.

    Attributes:
        filename: the name shown to the recipient (never used as a path on our side).
        content: the file's bytes.
        content_type: the MIME type, ``application/octet-stream`` by default.
        inline: True for an inline part (an image an HTML body shows); needs ``content_id``.
        content_id: the Content-ID without angle brackets, referenced as ``cid:<content_id>``.
    """

    filename: str
    content: bytes = field(repr=lambda b: f"<{len(b)} bytes>")
    content_type: str = "application/octet-stream"
    inline: bool = False
    content_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.inline and not self.content_id:
            raise ValueError(f"inline attachment {self.filename!r} needs a content_id")
        if "/" not in self.content_type:
            raise ValueError(f"content_type must be type/subtype, got {self.content_type!r}")


@define(frozen=True, kw_only=True)
class Message:
    """An outgoing message before it becomes bytes.

    ``bcc`` recipients get the message but never appear in its headers. ``message_id`` and ``date``
    are fixed when the message is queued, so a retry sends the same message.
    """

    from_: Address | None = None
    to: Sequence[Address] = ()
    cc: Sequence[Address] = ()
    bcc: Sequence[Address] = ()
    reply_to: Sequence[Address] = ()
    sender: Address | None = None
    subject: str = ""
    text: str | None = None
    html: str | None = None
    attachments: Sequence[Attachment] = ()
    headers: Mapping[str, str] = field(factory=dict)
    message_id: str | None = None
    date: datetime | None = None

    @property
    def recipients(self) -> list[Address]:
        """Every envelope recipient: To, then CC, then BCC, without duplicates."""
        seen: dict[str, Address] = {}
        for address in (*self.to, *self.cc, *self.bcc):
            seen.setdefault(address.addr_spec.lower(), address)
        return list(seen.values())


@define(frozen=True, kw_only=True)
class SendOptions:
    """How mail made from a template is sent, unless the caller says otherwise.

    Attributes:
        queue: queue the message for an outbox worker instead of sending it now.
        delay: schedule the message this long after it is rendered (implies queueing).
        sign: the message must be signed; sending fails if no installed plugin signs.
        encrypt: the message must be encrypted; sending fails if no installed plugin encrypts.
    """

    queue: bool = False
    delay: timedelta | None = None
    sign: bool = False
    encrypt: bool = False


@define(frozen=True, kw_only=True)
class Template:
    """A named message template whose fields are rendered by a template engine.

    Attributes:
        name: the template's unique name.
        engine: the registered template engine that renders it (``jinja2`` by default).
        subject, text, html: template sources for the subject and the bodies.
        from_display_name, to, cc, bcc, reply_to: template sources for those fields, so recipients
            can come from the data; address lists are separated by ``,`` or ``;``.
        attachments: attachments sent with every rendering (normal and inline).
        language: the language of this variant; ``variants`` holds the others by language code.
            A variant's fields left empty (None, ``""``, no attachments) are taken from this template.
        default_language: the language used when neither the caller nor the data picks one
            (``language`` when None).
        options: send-time options (queue, delay, sign, encrypt).
    """

    name: str = field(validator=validators.min_len(1))
    engine: str = "jinja2"
    subject: str = ""
    text: str | None = None
    html: str | None = None
    from_display_name: str | None = None
    to: str | None = None
    cc: str | None = None
    bcc: str | None = None
    reply_to: str | None = None
    attachments: Sequence[Attachment] = ()
    language: str | None = None
    variants: Mapping[str, Template] = field(factory=dict)
    default_language: str | None = None
    options: SendOptions = field(factory=SendOptions)
