"""Callables the pipeline tests name in ``run: {callable: tests._pipeline_steps:...}``.

``flaky`` fails (raises) for messages whose subject number is a multiple of ``STATE.fail_every``
while ``STATE.broken`` is set, and counts its calls per message, so a test can break and mend a step.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from mailconduit import ActionContext, ActionResult, StoredMessage


@dataclass
class State:
    """What the test controls and observes."""

    broken: bool = True
    fail_every: int = 10
    calls: Counter[str] = field(default_factory=Counter)


STATE = State()


def number(message: StoredMessage) -> int:
    """The ``n`` of a ``... n`` subject (-1 when there is none)."""
    found = re.search(r"(\d+)\s*$", message.subject or "")
    return int(found.group(1)) if found else -1


def flaky(message: StoredMessage, context: ActionContext) -> ActionResult:
    """Raise for every ``fail_every``-th message while broken; else accept and keep a fact."""
    STATE.calls[message.message_id or str(message.id)] += 1
    if STATE.broken and number(message) % STATE.fail_every == 0:
        raise RuntimeError(f"the invoice service is down (message {number(message)})")
    context.keep(message, {"flaky": "ok"})
    return ActionResult(accepted=True)


def refuse_odd(message: StoredMessage, context: ActionContext) -> ActionResult:
    """Reject messages with an odd subject number."""
    if number(message) % 2:
        return ActionResult(accepted=False, reason=f"odd number {number(message)}")
    return ActionResult(accepted=True)


def no_result(message: StoredMessage, context: ActionContext) -> None:
    """A broken action: returns nothing."""


class Tagger:
    """A class whose instances are actions (``run`` instantiates it)."""

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """Tag the message."""
        return ActionResult(accepted=True, annotations={"tagged": "yes"})


NOT_CALLABLE = 42
