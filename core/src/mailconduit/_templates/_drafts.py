"""Drafts: messages rendered from a template and kept in the store for review, edits, and sending later.

A draft is a ``messages`` row (direction outgoing, status ``draft``) whose ``annotations["draft"]``
holds the editable fields, with its attachments in ``attachments`` and the composed bytes (what
would be sent) in ``message_raw``, recomposed after every edit. Its Message-ID is fixed when it is
made, so sending is idempotent: a draft whose message is already in the outbox is not queued again.
Sending goes through the outbox; the draft row is removed in the same step.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from mailconduit._addresses import parse_address_list
from mailconduit._message import Address, Message, MessageStatus, SendOptions, Template
from mailconduit._templates._draft_rows import (
    EDITABLE,
    LISTS,
    Draft,
    compose_draft,
    draft_of,
    draft_row,
    write_fields,
)
from mailconduit._templates._options import merge_options
from mailconduit._templates._render import Renderer
from mailconduit._templates._send import SendOutcome, deliver
from mailconduit._types import Direction

if TYPE_CHECKING:
    from mailconduit._config import Config
    from mailconduit._outbox import Outbox
    from mailconduit._plugins import PluginSet
    from mailconduit._store import Store

__all__ = ["Draft", "Drafts"]


class Drafts:
    """Make, list, edit and send drafts.

    Args:
        store: the open store.
        config: the configuration (its accounts).
        plugins: the loaded plugins (template engines, transforms, transports).
    """

    def __init__(self, store: Store, config: Config, plugins: PluginSet) -> None:
        self.store = store
        self.config = config
        self.plugins = plugins
        self._renderer = Renderer(plugins)

    def __repr__(self) -> str:
        return f"Drafts({self.store.url!r})"

    def create(
        self, account: str, template: Template, data: object = None, *, language: str | None = None
    ) -> Draft:
        """Render ``template`` with ``data`` for ``account`` and keep the result as a draft.

        Raises:
            LookupError: no such account.
            TemplateError, RenderLimitError, HeaderInjectionError, AddressError: rendering failed.
        """
        acct = self.config.account(account)
        message = self._renderer.render(
            template,
            data,
            language=language,
            from_address=acct.mailbox,
            default_display_name=acct.display_name,
        )
        return self.create_from_message(account, message, template=template.name, options=template.options)

    def create_from_message(
        self,
        account: str,
        message: Message,
        *,
        template: str | None = None,
        options: SendOptions | None = None,
    ) -> Draft:
        """Keep ``message`` as a draft of ``account`` (its Message-ID is fixed now)."""
        acct = self.config.account(account)
        if message.from_ is None:
            message = attrs.evolve(message, from_=Address(acct.mailbox, acct.display_name))
        if message.message_id is None:
            host = message.from_.domain if message.from_ else "localhost"
            message = attrs.evolve(message, message_id=f"<{secrets.token_hex(16)}@{host}>")
        from mailconduit._store._models import Attachment as AttachmentRow
        from mailconduit._store._models import MessageRaw, MessageRow

        with self.store.session() as session:
            row = MessageRow(
                direction=Direction.OUTGOING, account=acct.name, status=MessageStatus.DRAFT, sha256="", size=0
            )
            session.add(row)
            write_fields(row, message, template, options or SendOptions())
            session.flush()
            session.add(MessageRaw(message_id=row.id, raw=compose_draft(message)))
            for position, part in enumerate(message.attachments):
                session.add(
                    AttachmentRow(
                        message_id=row.id,
                        position=position,
                        filename=part.filename,
                        content_type=part.content_type,
                        content_id=part.content_id,
                        inline=part.inline,
                        size=len(part.content),
                        sha256=hashlib.sha256(part.content).hexdigest(),
                        content=part.content,
                    )
                )
            session.flush()
            return draft_of(session, row)

    def get(self, draft_id: int) -> Draft:
        """The draft ``draft_id``.

        Raises:
            LookupError: no draft with that id.
        """
        with self.store.session(readonly=True) as session:
            return draft_of(session, draft_row(session, draft_id))

    def list(self, account: str | None = None) -> list[Draft]:
        """Every draft (of ``account``), newest first."""
        from sqlalchemy import select

        from mailconduit._store._models import MessageRow

        query = select(MessageRow).where(MessageRow.status == MessageStatus.DRAFT)
        if account is not None:
            query = query.where(MessageRow.account == account)
        with self.store.session(readonly=True) as session:
            return [draft_of(session, r) for r in session.scalars(query.order_by(MessageRow.id.desc()))]

    def edit(self, draft_id: int, **changes: str | None) -> Draft:
        """Change fields of a draft; None leaves a field as it is.

        ``subject``, ``text`` and ``html`` take text; ``to``, ``cc``, ``bcc`` and ``reply_to`` take
        address lists separated by ``,`` or ``;``.

        Raises:
            LookupError: no draft with that id.
            ValueError: an unknown field.
            AddressError, HeaderInjectionError: a new value is not valid; the draft is unchanged.
        """
        unknown = sorted(set(changes) - set(EDITABLE))
        if unknown:
            raise ValueError(
                f"draft fields {', '.join(unknown)} cannot be edited; editable: {', '.join(EDITABLE)}"
            )
        from mailconduit._store._models import MessageRaw

        with self.store.session() as session:
            row = draft_row(session, draft_id)
            draft = draft_of(session, row)
            updates: dict[str, Any] = {}
            for key, value in changes.items():
                if value is None:
                    continue
                updates[key] = parse_address_list(value, field=key) if key in LISTS else value
            message = attrs.evolve(draft.message, **updates)
            raw = compose_draft(message)  # refuses bad headers before anything changes
            write_fields(row, message, draft.template, draft.options)
            raw_row = session.get(MessageRaw, row.id)
            if raw_row is None:
                session.add(MessageRaw(message_id=row.id, raw=raw))
            else:
                raw_row.raw = raw
            session.flush()
            return draft_of(session, row)

    def delete(self, draft_id: int) -> None:
        """Delete a draft.

        Raises:
            LookupError: no draft with that id.
        """
        with self.store.session() as session:
            session.delete(draft_row(session, draft_id))

    def send(
        self,
        draft_id: int,
        *,
        outbox: Outbox | None = None,
        queue: bool | None = None,
        at: datetime | None = None,
    ) -> SendOutcome:
        """Send a draft through the outbox (now, queued, or at ``at``) and remove it from the drafts.

        Raises:
            LookupError: no draft with that id.
            PluginMissingError: the draft must be signed or encrypted and no plugin does it.
        """
        from sqlalchemy import select

        from mailconduit._store._models import MessageRow

        draft = self.get(draft_id)
        if outbox is None:
            from mailconduit._outbox import Outbox

            outbox = Outbox(self.store, self.config, self.plugins)
        with self.store.session(readonly=True) as session:
            already = session.scalars(
                select(MessageRow.id).where(
                    MessageRow.account == draft.account,
                    MessageRow.header_message_id == draft.message.message_id,
                    MessageRow.status != MessageStatus.DRAFT,
                )
            ).first()
        if already is not None:  # an earlier send queued it and stopped before removing the draft
            outcome = SendOutcome(id=already, status=MessageStatus.QUEUED)
        else:
            options = merge_options(draft.options, queue=queue)
            outcome = deliver(outbox, draft.account, draft.message, options, at=at, what=f"draft {draft_id}")
        self.delete(draft_id)
        return outcome
