"""Send-time options of a template: when to send, and the refusal to send plaintext by mistake.

A template (or its caller) that asks for signing or encryption is only sent when an installed
plugin provides an outgoing transform of that stage for the account; otherwise sending fails with
a ``PluginMissingError`` before anything is queued, never as a silent plaintext send.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from attrs import evolve

from mailconduit._errors import PluginMissingError
from mailconduit._message import SendOptions
from mailconduit._types import Direction, Stage

if TYPE_CHECKING:
    from mailconduit._model import Account
    from mailconduit._plugins import PluginSet

__all__ = ["check_transforms", "merge_options", "send_time"]


def merge_options(
    options: SendOptions,
    *,
    queue: bool | None = None,
    delay: timedelta | None = None,
    sign: bool | None = None,
    encrypt: bool | None = None,
) -> SendOptions:
    """``options`` with the caller's choices applied (None keeps the template's); sign/encrypt only add."""
    return evolve(
        options,
        queue=options.queue if queue is None else queue,
        delay=options.delay if delay is None else delay,
        sign=options.sign or bool(sign),
        encrypt=options.encrypt or bool(encrypt),
    )


def check_transforms(options: SendOptions, account: Account, plugins: PluginSet, *, what: str) -> None:
    """Refuse to go on when ``options`` asks for signing or encryption no installed plugin provides.

    Args:
        options: the send options in effect.
        account: the sending account.
        plugins: the loaded plugins.
        what: names the message in the error (``template 'welcome'``, ``draft 12``).

    Raises:
        PluginMissingError: signing or encryption was asked for and no outgoing transform of that
            stage is provided for ``account``; nothing is sent or queued.
    """
    wanted = {Stage.SIGN: options.sign, Stage.ENCRYPT: options.encrypt}
    if not any(wanted.values()):
        return
    stages = {t.stage for t in plugins.hooks.message_transforms(account, direction=Direction.OUTGOING)}
    missing = [stage.name.lower() for stage, asked in wanted.items() if asked and stage not in stages]
    if missing:
        verbs = " and ".join(f"{m}ed" for m in missing)
        raise PluginMissingError(
            f"{what} must be {verbs} but no installed plugin {' or '.join(missing)}s outgoing mail for "
            f"account {account.name!r}; install and configure one (mailconduit-smime, say) or turn the "
            "option off; nothing was sent"
        )


def send_time(options: SendOptions, *, at: datetime | None, now: datetime) -> datetime | None:
    """When to send: ``at`` if given, else now + the template's delay, else None (now)."""
    if at is not None:
        return at
    return now + options.delay if options.delay is not None else None
