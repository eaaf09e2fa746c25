"""Between the two commits of a batch: incoming transforms, the budgeted structure survey, and the steps.

Every message is handled on its own: a transform or step that raises or rejects marks that message
(with the reason) and the batch goes on; a message past the parse limits (or ``max_message_size``)
keeps its raw bytes and gets a ``limit_exceeded`` defect. The stdlib's full MIME parse is not run
here (it costs more than the wire, PERFORMANCE.md): ``_survey`` checks the limits and records the
attachments in one linear pass; the full parse runs on demand, in its worker, when a message is read.
Nothing here writes to the store: what the steps ``keep`` and ``log`` is collected and committed
with the batch's results (commit 2), so a crash before that commit leaves no half-recorded message
and the rerun records it once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import define, field

from mailconduit._mime import ParseLimits
from mailconduit._model import Account
from mailconduit._protocols import Action, Transform
from mailconduit._replicate._crash import Boundary, checkpoint
from mailconduit._replicate._ingest import Ingested
from mailconduit._replicate._survey import AttachmentInfo, survey
from mailconduit._types import StoredMessage

__all__ = ["BatchContext", "Outcome", "Step", "process_batch"]

LEVELS = ("debug", "info", "warning", "error")


@define(frozen=True)
class Step:
    """A named per-message step: the name is what the reason of a rejection cites."""

    name: str
    action: Action


@define(kw_only=True)
class Outcome:
    """What processing made of one message; committed with the batch's results.

    Attributes:
        item: the ingested message.
        message: the message as handed to the steps.
        accepted: every step accepted it (only these get the after-replication action).
        reason: why it was not accepted (empty when accepted).
        facts: annotations to store: transforms' and steps' annotations and ``keep`` facts.
        logs: email-log lines ``(level, text)`` to write for it.
        defects: the message's defects after the survey.
        attachments: the attachments the survey found (metadata only).
    """

    item: Ingested
    message: StoredMessage
    accepted: bool = True
    reason: str = ""
    facts: dict[str, str] = field(factory=dict)
    logs: list[tuple[str, str]] = field(factory=list)
    defects: list[str] = field(factory=list)
    attachments: list[AttachmentInfo] = field(factory=list)


class BatchContext:
    """The ``ActionContext`` steps get: the account, and a log and facts committed with the batch."""

    def __init__(self, account: Account) -> None:
        self._account = account
        self._outcomes: dict[int, Outcome] = {}
        self.current: Outcome | None = None

    @property
    def account(self) -> Account:
        """The account the message was received for."""
        return self._account

    def track(self, outcome: Outcome) -> None:
        """Make ``outcome`` the message the next ``log`` calls are about."""
        self._outcomes[outcome.message.id] = outcome
        self.current = outcome

    def log(self, level: str, text: str) -> None:
        """Queue an email-log line for the message being processed (written with commit 2)."""
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
        if self.current is not None:
            self.current.logs.append((level, str(text)))

    def keep(self, message: StoredMessage, facts: Mapping[str, str]) -> None:
        """Record ``facts`` about ``message``; stored in its annotations with commit 2."""
        outcome = self._outcomes.get(message.id)
        if outcome is None:
            raise ValueError(f"message {message.id} is not part of the batch being processed")
        outcome.facts.update({str(k): str(v) for k, v in facts.items()})


def stored_message(item: Ingested, *, account: str, folder: str) -> StoredMessage:
    """The ``StoredMessage`` steps see for an ingested message."""
    raw = item.raw
    return StoredMessage(
        id=item.id,
        account=account,
        folder=folder,
        key=item.ref.key,
        sha256=item.sha256,
        size=len(raw),
        message_id=item.scan.message_id,
        subject=item.scan.subject,
        from_=item.scan.from_,
        date=item.scan.date_text,
        defects=tuple(item.defects),
        annotations={},
        raw=lambda: raw,
    )


def _transform(outcome: Outcome, transforms: Sequence[Transform]) -> bytes | None:
    data = outcome.item.raw
    for transform in transforms:
        try:
            result = transform.apply(data)
        except Exception as exc:
            outcome.accepted = False
            outcome.reason = f"transform {type(transform).__name__} failed: {type(exc).__name__}: {exc}"
            return None
        data = result.data
        outcome.facts.update({str(k): str(v) for k, v in result.annotations.items()})
    return data


def _parse(outcome: Outcome, data: bytes, max_size: int, limits: ParseLimits) -> None:
    defects = list(outcome.item.defects)
    if len(data) > max_size:
        found = [
            f"limit_exceeded: message of {len(data)} bytes is over max_message_size ({max_size}); not parsed"
        ]
    else:
        try:
            surveyed = survey(data, limits)
            found = surveyed.defects
            outcome.attachments = surveyed.attachments
        except Exception as exc:  # a bug guard: one message never stops the batch
            found = [f"parse failed: {type(exc).__name__}"]
    outcome.defects = defects + [d for d in found if d not in defects]


def _steps(outcome: Outcome, steps: Sequence[Step], context: BatchContext) -> None:
    message = outcome.message
    for step in steps:
        try:
            result = step.action(message, context)
        except Exception as exc:
            outcome.accepted = False
            outcome.reason = f"step {step.name!r} failed: {type(exc).__name__}: {exc}"
            return
        outcome.facts.update({str(k): str(v) for k, v in result.annotations.items()})
        if not result.accepted:
            outcome.accepted = False
            outcome.reason = f"step {step.name!r} rejected it: {result.reason or 'no reason given'}"
            return


def process_batch(
    items: Sequence[Ingested],
    *,
    account: Account,
    folder: str,
    transforms: Sequence[Transform],
    steps: Sequence[Step],
    batch_number: int,
    max_message_size: int,
    limits: ParseLimits | None = None,
) -> list[Outcome]:
    """Transform, parse and run the steps on every message of a batch; one message never stops it.

    Messages an earlier run already finished (re-keyed after a UIDVALIDITY change) are accepted
    without running anything again.
    """
    context = BatchContext(account)
    limits = limits or ParseLimits()
    outcomes: list[Outcome] = []
    for index, item in enumerate(items):
        outcome = Outcome(item=item, message=stored_message(item, account=account.name, folder=folder))
        outcome.defects = list(item.defects)
        outcomes.append(outcome)
        if not item.done:
            context.track(outcome)
            data = _transform(outcome, transforms)
            if data is not None:
                _parse(outcome, data, max_message_size, limits)
                outcome.message = _with(outcome)
                _steps(outcome, steps, context)
            context.current = None
        checkpoint(Boundary.STEPS_RUN, batch_number, index)
    return outcomes


def _with(outcome: Outcome) -> StoredMessage:
    """The message with its parse defects and transform annotations, as steps should see it."""
    from attrs import evolve

    fields: dict[str, Any] = {"defects": tuple(outcome.defects), "annotations": dict(outcome.facts)}
    return evolve(outcome.message, **fields)
