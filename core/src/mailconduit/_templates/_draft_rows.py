"""How a draft sits in the store: its row, editable fields as JSON, attachments; and the Draft type.

The editable fields live in ``annotations["draft"]`` of the ``messages`` row (status ``draft``),
attachments in ``attachments``; ``_draft`` reads them back into a :class:`Draft`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from attrs import frozen

from mailconduit._message import Address, Attachment, Message, MessageStatus, SendOptions

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailconduit._store._models import MessageRow

__all__ = ["EDITABLE", "LISTS", "Draft", "compose_draft", "draft_of", "draft_row", "write_fields"]

LISTS = ("to", "cc", "bcc", "reply_to")
EDITABLE = ("subject", "text", "html", *LISTS)


@frozen(kw_only=True)
class Draft:
    """A draft as stored: the message to be sent, its account, template and send options.

    Attributes:
        id: the draft's id in the store.
        account: the account that will send it.
        template: the template it was rendered from, if any.
        message: the message (From, recipients, subject, bodies, attachments, Message-ID).
        options: the send options (queue, delay, sign, encrypt).
        created_at, updated_at: when it was made and last changed.
    """

    id: int
    account: str
    template: str | None
    message: Message
    options: SendOptions
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no attachment contents)."""
        m = self.message
        return {
            "id": self.id,
            "account": self.account,
            "template": self.template,
            "message_id": m.message_id,
            "from": str(m.from_) if m.from_ else None,
            "subject": m.subject,
            **{key: [str(a) for a in getattr(m, key)] for key in LISTS},
            "text": m.text,
            "html": m.html,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "inline": a.inline,
                    "size": len(a.content),
                }
                for a in m.attachments
            ],
            "options": {
                "queue": self.options.queue,
                "sign": self.options.sign,
                "encrypt": self.options.encrypt,
            },
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _address_dict(address: Address | None) -> dict[str, Any] | None:
    return None if address is None else {"addr_spec": address.addr_spec, "display_name": address.display_name}


def _fields(message: Message, template: str | None, options: SendOptions) -> dict[str, Any]:
    return {
        "template": template,
        "from": _address_dict(message.from_),
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        **{key: [_address_dict(a) for a in getattr(message, key)] for key in LISTS},
        "options": {
            "queue": options.queue,
            "delay_seconds": options.delay.total_seconds() if options.delay else None,
            "sign": options.sign,
            "encrypt": options.encrypt,
        },
    }


def _to_address(data: Mapping[str, Any]) -> Address:
    return Address(data["addr_spec"], data.get("display_name"))


def _addresses(fields: Mapping[str, Any], key: str) -> tuple[Address, ...]:
    return tuple(_to_address(a) for a in fields.get(key) or ())


def compose_draft(message: Message) -> bytes:
    from mailconduit._mime import compose

    return compose(message)


def write_fields(row: MessageRow, message: Message, template: str | None, options: SendOptions) -> None:
    row.header_message_id = message.message_id
    row.subject = message.subject
    row.from_ = str(message.from_) if message.from_ else None
    row.recipients = [a.addr_spec for a in message.recipients]
    row.sha256 = hashlib.sha256(repr(_fields(message, template, options)).encode()).hexdigest()
    row.size = len((message.text or "") + (message.html or "")) + sum(
        len(a.content) for a in message.attachments
    )
    row.defects = []
    row.annotations = {"draft": _fields(message, template, options)}


def draft_row(session: Session, draft_id: int) -> MessageRow:
    from mailconduit._store._models import MessageRow

    row = session.get(MessageRow, draft_id)
    if row is None or row.status != MessageStatus.DRAFT:
        raise LookupError(f"no draft {draft_id}; `mailconduit draft list` shows the drafts")
    return row


def draft_of(session: Session, row: MessageRow) -> Draft:
    from sqlalchemy import select

    from mailconduit._store._models import Attachment as AttachmentRow

    fields = (row.annotations or {}).get("draft", {})
    parts: Sequence[AttachmentRow] = session.scalars(
        select(AttachmentRow).where(AttachmentRow.message_id == row.id).order_by(AttachmentRow.position)
    ).all()
    attachments = tuple(
        Attachment(
            filename=p.filename or "attachment",
            content=p.content or b"",
            content_type=p.content_type,
            inline=p.inline,
            content_id=p.content_id,
        )
        for p in parts
    )
    raw_options = fields.get("options") or {}
    delay = raw_options.get("delay_seconds")
    options = SendOptions(
        queue=bool(raw_options.get("queue")),
        delay=timedelta(seconds=delay) if delay is not None else None,
        sign=bool(raw_options.get("sign")),
        encrypt=bool(raw_options.get("encrypt")),
    )
    message = Message(
        from_=_to_address(fields["from"]) if fields.get("from") else None,
        subject=fields.get("subject") or "",
        text=fields.get("text"),
        html=fields.get("html"),
        attachments=attachments,
        message_id=row.header_message_id,
        to=_addresses(fields, "to"),
        cc=_addresses(fields, "cc"),
        bcc=_addresses(fields, "bcc"),
        reply_to=_addresses(fields, "reply_to"),
    )
    return Draft(
        id=row.id,
        account=row.account,
        template=fields.get("template"),
        message=message,
        options=options,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
