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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from attrs import define, evolve, field

from mailconduit._message import Message, Template
from mailconduit._mime import ParseLimits
from mailconduit._model import Account
from mailconduit._outbox._compose_for_send import Prepared
from mailconduit._plugins import PluginSet
from mailconduit._protocols import Action, Transform
from mailconduit._replicate._crash import Boundary, checkpoint
from mailconduit._replicate._ingest import Ingested
from mailconduit._replicate._survey import AttachmentInfo, survey
from mailconduit._store import Store
from mailconduit._types import Certificate, Direction, StoredMessage

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = [
    "DONE_STEPS",
    "BatchContext",
    "Outcome",
    "Queued",
    "Step",
    "done_steps",
    "process_batch",
    "step_label",
]

LEVELS = ("debug", "info", "warning", "error")


@define(frozen=True)
class Step:
    """A named per-message step: the name is what the reason of a rejection cites."""

    name: str
    action: Action


@define(frozen=True)
class Queued:
    """An outgoing message a step queued; written to the outbox with the batch's results."""

    account: str
    prepared: Prepared
    at: datetime | None = None


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
        queued: outgoing messages its steps queued (committed whether or not it was accepted:
            the steps that queued them finished, and are not run again).
        move_to: a step asked for it to be moved to this folder (replaces the pipeline's action).
        add_flags: flags a step asked for it to get on the server.
        done_steps: labels of the steps finished for it, this run or an earlier one.
        certificates: certificates its transforms learnt (``TransformResult.certificates``),
            stored for the account with commit 2.
    """

    item: Ingested
    message: StoredMessage
    accepted: bool = True
    reason: str = ""
    facts: dict[str, str] = field(factory=dict)
    logs: list[tuple[str, str]] = field(factory=list)
    defects: list[str] = field(factory=list)
    attachments: list[AttachmentInfo] = field(factory=list)
    queued: list[Queued] = field(factory=list)
    move_to: str | None = None
    add_flags: list[str] = field(factory=list)
    done_steps: list[str] = field(factory=list)
    certificates: list[Certificate] = field(factory=list)


class BatchContext:
    """The ``ActionContext`` steps get; what they log, keep, queue and change is committed with the batch.

    Args:
        account: the receiving account.
        pipeline: the pipeline's name, if a pipeline runs the steps.
        config: the configuration, for other accounts and the templates folder.
        store: the store, for templates kept in it.
        plugins: the plugin set, for the outgoing transforms of queued mail.
    """

    def __init__(
        self,
        account: Account,
        *,
        pipeline: str | None = None,
        config: Config | None = None,
        store: Store | None = None,
        plugins: PluginSet | None = None,
    ) -> None:
        self._account = account
        self._pipeline = pipeline
        self._config = config
        self._store = store
        self._plugins = plugins
        self._outcomes: dict[int, Outcome] = {}
        self.current: Outcome | None = None

    @property
    def account(self) -> Account:
        """The account the message was received for."""
        return self._account

    @property
    def pipeline(self) -> str | None:
        """The pipeline running the steps, if any."""
        return self._pipeline

    @property
    def config(self) -> Config | None:
        """The configuration, if the run was started from one."""
        return self._config

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

    def _outcome(self, message: StoredMessage) -> Outcome:
        outcome = self._outcomes.get(message.id)
        if outcome is None:
            raise ValueError(f"message {message.id} is not part of the batch being processed")
        return outcome

    def keep(self, message: StoredMessage, facts: Mapping[str, str]) -> None:
        """Record ``facts`` about ``message``; stored in its annotations with commit 2."""
        self._outcome(message).facts.update({str(k): str(v) for k, v in facts.items()})

    def queue(self, message: Message, *, account: str | None = None, at: datetime | None = None) -> None:
        """Compose ``message`` for ``account`` (default: this one) and queue it with commit 2."""
        from mailconduit._errors import ConfigError
        from mailconduit._outbox._compose_for_send import prepare

        if at is not None and at.utcoffset() is None:
            raise ValueError(f"at={at.isoformat()} is naive; give an aware datetime (UTC, say)")
        if self.current is None:
            raise ValueError("queue() may only be called while a step handles a message")
        sender = self._account
        if account is not None and account != sender.name:
            if self._config is None:
                raise LookupError(f"account {account!r} given by name, but the run has no configuration")
            sender = self._config.account(account)
        if sender.send is None:
            raise ConfigError([(f"accounts.{sender.name}.send", "is missing; this account cannot send mail")])
        transforms = (
            self._plugins.hooks.message_transforms(sender, direction=Direction.OUTGOING)
            if self._plugins
            else []
        )
        prepared = prepare(sender, message, now=datetime.now(UTC), transforms=transforms)
        self.current.queued.append(Queued(account=sender.name, prepared=prepared, at=at))

    def change_on_server(
        self, message: StoredMessage, *, move_to: str | None = None, add_flags: Sequence[str] = ()
    ) -> None:
        """Flag and/or move ``message`` on the server once every step accepted it."""
        outcome = self._outcome(message)
        if move_to is None and not add_flags:
            raise ValueError("change_on_server() needs move_to= or add_flags=")
        for flag in add_flags:
            if not flag or any(c in flag for c in ' \r\n\0()]{%*"') or ("\\" in flag[1:]):
                raise ValueError(f"flag {flag!r} is not an IMAP flag (\\Seen, \\Flagged or a keyword)")
        if move_to is not None:
            if not move_to or any(c in move_to for c in "\r\n\0"):
                raise ValueError(f"folder {move_to!r} is not a folder name")
            outcome.move_to = move_to
        outcome.add_flags.extend(f for f in add_flags if f not in outcome.add_flags)

    def template(self, name: str) -> Template:
        """The template ``name`` from the store, else from the configured templates folder."""
        from mailconduit._templates import TemplateFolder, TemplateStore

        if self._store is not None:
            found = TemplateStore(self._store).find(name)
            if found is not None:
                return found
        folder = self._config.templates if self._config is not None else None
        if folder is not None:
            found = TemplateFolder(folder).find(name)
            if found is not None:
                return found
        where = "the store" + (f" or the templates folder {str(folder)!r}" if folder is not None else "")
        raise LookupError(f"no template {name!r} in {where}")


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
        outcome.certificates.extend(c for c in result.certificates if c not in outcome.certificates)
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


def step_label(index: int, step: Step) -> str:
    """How a finished step is remembered on its message: ``2:webhook``."""
    return f"{index}:{step.name}"


DONE_STEPS = "steps_done"
"""The annotation listing the steps finished for a message (comma-separated labels)."""


def done_steps(annotations: Mapping[str, Any]) -> list[str]:
    """The finished-step labels recorded in ``annotations``."""
    text = str(annotations.get(DONE_STEPS) or "")
    return [label for label in text.split(",") if label]


def _steps(outcome: Outcome, steps: Sequence[Step], context: BatchContext, *, rerun: bool) -> None:
    """Run the steps not yet finished for this message (all of them when ``rerun``), in order.

    A finished step is remembered on the message, so a message retried after a later step failed
    does not post its webhook or queue its reply again.
    """
    message = outcome.message
    for index, step in enumerate(steps):
        label = step_label(index, step)
        if not rerun and label in outcome.done_steps:
            continue
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
        if label not in outcome.done_steps:
            outcome.done_steps.append(label)
        outcome.facts[DONE_STEPS] = ",".join(outcome.done_steps)


def _on_error(outcome: Outcome, steps: Sequence[Step], context: BatchContext) -> None:
    """Run the ``on_error`` steps for a message its steps did not accept; their failures are logged."""
    message = evolve(outcome.message, annotations={**outcome.message.annotations, "error": outcome.reason})
    for step in steps:
        try:
            result = step.action(message, context)
        except Exception as exc:
            outcome.logs.append(("error", f"on_error step {step.name!r} failed: {type(exc).__name__}: {exc}"))
            continue
        if not result.accepted:
            outcome.logs.append(
                ("error", f"on_error step {step.name!r} rejected it: {result.reason or 'no reason given'}")
            )


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
    on_error: Sequence[Step] = (),
    context: BatchContext | None = None,
    previous: Mapping[int, Mapping[str, Any]] | None = None,
    rerun: bool = False,
) -> list[Outcome]:
    """Transform, parse and run the steps on every message of a batch; one message never stops it.

    Messages an earlier run already finished (re-keyed after a UIDVALIDITY change) are accepted
    without running anything again. ``previous`` holds the stored annotations of messages seen
    before (the steps they finished are skipped unless ``rerun``); ``on_error`` steps run for every
    message the steps did not accept.
    """
    context = context or BatchContext(account)
    limits = limits or ParseLimits()
    outcomes: list[Outcome] = []
    for index, item in enumerate(items):
        outcome = Outcome(item=item, message=stored_message(item, account=account.name, folder=folder))
        outcome.defects = list(item.defects)
        if previous is not None and item.id in previous:
            outcome.done_steps = done_steps(previous[item.id])
        outcomes.append(outcome)
        if not item.done:
            context.track(outcome)
            data = _transform(outcome, transforms)
            if data is not None:
                _parse(outcome, data, max_message_size, limits)
                outcome.message = _with(outcome)
                _steps(outcome, steps, context, rerun=rerun)
            if not outcome.accepted and on_error:
                _on_error(outcome, on_error, context)
            context.current = None
        checkpoint(Boundary.STEPS_RUN, batch_number, index)
    return outcomes


def _with(outcome: Outcome) -> StoredMessage:
    """The message with its parse defects and transform annotations, as steps should see it."""
    fields: dict[str, Any] = {"defects": tuple(outcome.defects), "annotations": dict(outcome.facts)}
    return evolve(outcome.message, **fields)
