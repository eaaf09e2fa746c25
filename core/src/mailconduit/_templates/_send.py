"""Send with a template through the outbox: render, check sign/encrypt, then send now or queue.

Example::

    with Outbox.open("mailconduit.yaml") as outbox:
        outcome = send_template(outbox, "support", template, {"name": "Ada", "email": "ada@example.org"})
        later = send_template(outbox, "support", template, data, at=datetime(2030, 1, 1, tzinfo=UTC))
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from attrs import frozen

from mailconduit._message import Message, MessageStatus, SendOptions, Template
from mailconduit._templates._options import check_transforms, merge_options, send_time
from mailconduit._templates._render import Renderer

if TYPE_CHECKING:
    from mailconduit._outbox import DeliveryReport, Outbox

__all__ = ["SendOutcome", "deliver", "send_template"]


@frozen(kw_only=True)
class SendOutcome:
    """What became of a message sent with a template or from a draft.

    Attributes:
        id: the outgoing message's id in the store (``outbox list``).
        status: ``queued`` for queued or scheduled mail, else the first attempt's outcome.
        at: when a scheduled message is due (None: now).
        report: the first attempt's report when it was sent now, else None.
    """

    id: int
    status: MessageStatus
    at: datetime | None = None
    report: DeliveryReport | None = None


def deliver(
    outbox: Outbox, account: str, message: Message, options: SendOptions, *, at: datetime | None, what: str
) -> SendOutcome:
    """Send ``message`` now, or queue it (for ``at``, or after the options' delay), after the checks.

    Raises:
        PluginMissingError: signing or encryption is asked for and no plugin provides it.
        ValueError: ``at`` is naive.
    """
    if at is not None and at.utcoffset() is None:
        raise ValueError(f"at={at.isoformat()} is naive; give an aware datetime (UTC, say)")
    acct = outbox.config.account(account)
    check_transforms(options, acct, outbox.plugins, what=what)
    due = send_time(options, at=at, now=datetime.now(UTC))
    if options.queue or due is not None:
        message_id = outbox.queue(account, message, at=due)
        return SendOutcome(id=message_id, status=MessageStatus.QUEUED, at=due)
    report = outbox.send_now(account, message)
    return SendOutcome(id=report.id, status=report.status, report=report)


def send_template(
    outbox: Outbox,
    account: str,
    template: Template,
    data: object = None,
    *,
    language: str | None = None,
    queue: bool | None = None,
    at: datetime | None = None,
    delay: timedelta | None = None,
    sign: bool | None = None,
    encrypt: bool | None = None,
) -> SendOutcome:
    """Render ``template`` with ``data`` and send it through ``account``: now, queued, or at a time.

    The template's send options apply unless the caller overrides them; sign and encrypt can only
    be added here, never turned off.

    Raises:
        TemplateError, RenderLimitError, HeaderInjectionError, AddressError: rendering failed.
        PluginMissingError: signing or encryption is asked for and no installed plugin provides it.
        LookupError, ConfigError, MessageError: as ``Outbox.queue``.
    """
    options = merge_options(template.options, queue=queue, delay=delay, sign=sign, encrypt=encrypt)
    acct = outbox.config.account(account)
    message = Renderer(outbox.plugins).render(
        template, data, language=language, from_address=acct.mailbox, default_display_name=acct.display_name
    )
    return deliver(outbox, account, message, options, at=at, what=f"template {template.name!r}")
