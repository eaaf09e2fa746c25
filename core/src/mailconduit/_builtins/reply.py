"""Built-in action ``reply``: answer each message with a rendered template, queued in the outbox.

::

    - reply:
        template: acknowledgement
        account: null        # the sending account (default: the receiving account)

The reply goes to the message's Reply-To, else its From address, with ``In-Reply-To`` and
``References`` pointing at it and ``Re: <subject>`` as subject unless the template renders one.
The template's data: ``id``, ``account``, ``folder``, ``message_id``, ``subject``, ``from`` (also as
``sender``), ``date``, ``size``, ``sha256``, ``annotations``, ``reply_subject`` and ``text`` (the
first text part, when the message is small enough to find it cheaply; else None).

No loops: automatic mail gets no reply (RFC 3834: ``Auto-Submitted`` other than ``no``,
``Precedence: bulk/list/junk``, a ``List-Id``, an empty return path, MAILER-DAEMON), nor does mail
from the replying account's own address. Such a message is accepted without a reply and the email
log says why. Replies carry ``Auto-Submitted: auto-replied``.
"""

from __future__ import annotations

from attrs import define, field, validators

from mailconduit._builtins._mailinfo import (
    auto_submitted_reason,
    first_text,
    header_block,
    one_line,
    reply_address,
    template_data,
)
from mailconduit._message import Message
from mailconduit._protocols import ActionContext
from mailconduit._templates import render_template
from mailconduit._types import ActionResult, StoredMessage

__all__ = ["ReplyAction", "ReplySettings"]

_MAX_REFERENCES = 20


@define(frozen=True, kw_only=True)
class ReplySettings:
    """``reply:`` settings (see the module docstring)."""

    template: str = field(validator=validators.min_len(1))
    account: str | None = None


def _references(existing: str, message_id: str | None) -> str:
    ids = existing.split()[-_MAX_REFERENCES:]
    if message_id and message_id not in ids:
        ids.append(message_id)
    return " ".join(ids)


class ReplyAction:
    """``reply``: the action (see the module docstring)."""

    def __init__(self, settings: ReplySettings) -> None:
        self.settings = settings

    def _own_addresses(self, context: ActionContext) -> set[str]:
        own = {context.account.email.lower(), context.account.mailbox.lower()}
        config = context.config
        if self.settings.account is not None and config is not None:
            try:
                sender = config.account(self.settings.account)
            except LookupError:
                return own
            if sender.email:
                own.add(sender.email.lower())
        return own

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """Queue the reply, or accept without one (and log why) when replying could loop."""
        raw = message.raw()
        headers = header_block(raw)
        why = auto_submitted_reason(headers)
        target = reply_address(headers)
        if why is None and target is None:
            why = "it has no From or Reply-To address to answer"
        if why is None and target is not None and target.addr_spec.lower() in self._own_addresses(context):
            why = f"it comes from this account's own address ({target.addr_spec})"
        if why is not None:
            context.log("info", f"no reply to message {message.id}: {why}")
            return ActionResult(accepted=True, annotations={"reply": f"none: {why}"})
        assert target is not None
        data = template_data(message, text=first_text(raw))
        rendered = render_template(context.template(self.settings.template), data)
        references = _references(one_line(str(headers.get("References") or "")), message.message_id)
        extra = {"Auto-Submitted": "auto-replied"}
        if message.message_id:
            extra["In-Reply-To"] = message.message_id
        if references:
            extra["References"] = references
        reply = Message(
            to=rendered.to or [target],
            cc=rendered.cc,
            bcc=rendered.bcc,
            reply_to=rendered.reply_to,
            subject=rendered.subject or str(data["reply_subject"]),
            text=rendered.text,
            html=rendered.html,
            attachments=rendered.attachments,
            headers=extra,
        )
        context.queue(reply, account=self.settings.account)
        return ActionResult(accepted=True, annotations={"reply": f"queued to {target.addr_spec}"})
