"""Built-in action ``forward``: queue a forward of each message to fixed addresses.

::

    - forward:
        to: [archive@example.com, team@example.com]
        account: null        # the sending account (default: the receiving account)
        template: null       # a template for the subject and text (data as for reply)
        attach: null         # attach the original (default: yes without a template, no with one)

The original is attached byte for byte as a ``message/rfc822`` part; with a template the forward's
subject and body are the template's (the original's first text part is in its data as ``text``),
inline. The forward is queued in the outbox with the batch's results (``ActionContext.queue``), so
a crash before that commit forwards nothing and the rerun forwards once. It carries
``Auto-Submitted: auto-generated`` (RFC 3834), so a recipient's auto-responder does not answer it.
"""

from __future__ import annotations

from typing import Any

from attrs import define, field

from mailconduit._addresses import parse_address
from mailconduit._builtins._mailinfo import first_text, one_line, template_data
from mailconduit._errors import MailconduitError
from mailconduit._message import Attachment, Message
from mailconduit._protocols import ActionContext
from mailconduit._templates import render_template
from mailconduit._types import ActionResult, StoredMessage

__all__ = ["ForwardAction", "ForwardSettings"]


def _addresses(_instance: Any, _attribute: Any, value: list[str]) -> None:
    if not value:
        raise ValueError("needs at least one address")
    for index, text in enumerate(value):
        try:
            parse_address(text, field=f"to[{index}]")
        except MailconduitError as exc:
            raise ValueError(str(exc)) from None


@define(frozen=True, kw_only=True)
class ForwardSettings:
    """``forward:`` settings (see the module docstring)."""

    to: list[str] = field(validator=_addresses)
    account: str | None = None
    template: str | None = None
    attach: bool | None = None


def prefixed(prefix: str, subject: str | None) -> str:
    """``subject`` with ``prefix`` (``Re:``, ``Fwd:``) in front, unless it already starts with it."""
    text = one_line(subject)
    return text if text.lower().startswith(prefix.lower()) else f"{prefix} {text}".strip()


class ForwardAction:
    """``forward``: the action (see the module docstring)."""

    def __init__(self, settings: ForwardSettings) -> None:
        self.settings = settings
        self._to = [parse_address(text, field="to") for text in settings.to]

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """Queue the forward; a failure to compose or queue it fails the step (message marked)."""
        settings = self.settings
        subject = prefixed("Fwd:", message.subject)
        text: str | None = (
            f"Forwarded message from {one_line(message.from_) or '(unknown sender)'}, "
            f"{one_line(message.date) or 'no date'}:\n{one_line(message.subject) or '(no subject)'}\n"
        )
        html = None
        if settings.template is not None:
            raw = message.raw()
            data = template_data(message, text=first_text(raw))
            rendered = render_template(context.template(settings.template), data)
            subject = rendered.subject or subject
            text, html = rendered.text, rendered.html
        attach = settings.attach if settings.attach is not None else settings.template is None
        attachments = (
            [
                Attachment(
                    filename="forwarded-message.eml", content=message.raw(), content_type="message/rfc822"
                )
            ]
            if attach
            else []
        )
        forward = Message(
            to=list(self._to),
            subject=subject,
            text=text,
            html=html,
            attachments=attachments,
            headers={"Auto-Submitted": "auto-generated"},
        )
        context.queue(forward, account=settings.account)
        return ActionResult(accepted=True, annotations={"forwarded_to": ", ".join(self._recipients())})

    def _recipients(self) -> list[str]:
        return [address.addr_spec for address in self._to]
