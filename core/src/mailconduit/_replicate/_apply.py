"""Commit 2 of a batch and the server changes after it: results, pending changes, delete / move, done.

``commit_results`` writes, in the caller's transaction, every message's results (defects, facts,
the rejection reason), its log lines, the certificates its transforms learnt, the known key of
every message all steps accepted, and a pending change for each of those when the account deletes
or moves replicated mail.
``apply_pending`` then makes exactly those changes on the server and marks them applied; the
same function, called at the start of every run, finishes what a crashed run left pending. A
change whose key is from an older UIDVALIDITY is never sent: it could name another message now.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

from attrs import frozen
from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from mailconduit._model import AfterReplication, MoveTo
from mailconduit._outbox._repo import enqueue
from mailconduit._protocols import FlaggingMailbox, Mailbox
from mailconduit._replicate._bulk import insert_rows, update_by_id
from mailconduit._replicate._crash import Boundary, checkpoint
from mailconduit._replicate._plan import format_key
from mailconduit._replicate._process import Outcome
from mailconduit._store._columns import utcnow
from mailconduit._store._models import (
    Attachment,
    EmailLog,
    FolderSync,
    KnownKey,
    LogLevel,
    MessageRow,
    PendingAction,
    PendingChange,
    PendingState,
)
from mailconduit._store._repo_certificates import record_certificates
from mailconduit._types import MessageRef

__all__ = ["Applied", "advance_state", "apply_pending", "commit_results"]

SessionFactory = Callable[[], AbstractContextManager[Session]]


def _pending_action(after: AfterReplication | MoveTo) -> tuple[PendingAction, str | None] | None:
    if isinstance(after, MoveTo):
        return PendingAction.MOVE, after.folder
    if after is AfterReplication.DELETE:
        return PendingAction.DELETE, None
    return None


def commit_results(
    session: Session,
    *,
    account: str,
    folder: str,
    outcomes: Sequence[Outcome],
    after: AfterReplication | MoveTo,
    already_known: Collection[int] = (),
) -> bool:
    """Write the batch's results and, for accepted messages, known keys and pending changes (commit 2).

    Messages in ``already_known`` (a replay of a finished message) get their results, logs and
    queued mail, but no second known key or server change. Returns whether any server change was
    recorded (then ``apply_pending`` has work to do).
    """
    if not outcomes:
        return False
    now = utcnow()
    todo = [o for o in outcomes if not o.item.done]
    if todo:
        # rows this batch created have no annotations, attempts or attachments yet: only others are read
        seen = [o.item.id for o in todo if not o.item.created]
        current: dict[int, tuple[dict[str, Any], int]] = {o.item.id: ({}, 0) for o in todo if o.item.created}
        if seen:
            query = select(MessageRow.id, MessageRow.annotations, MessageRow.attempts).where(
                MessageRow.id.in_(seen)
            )
            rows = session.execute(query)
            current.update((row.id, (row.annotations or {}, row.attempts or 0)) for row in rows)
        update_by_id(
            session,
            _table(MessageRow),
            [
                {
                    "id": o.item.id,
                    "defects": o.defects,
                    "annotations": {**current[o.item.id][0], **o.facts},
                    "last_error": None if o.accepted else o.reason,
                    "attempts": current[o.item.id][1] + 1,
                    "updated_at": now,
                }
                for o in todo
            ],
        )
        if seen:
            session.execute(delete(Attachment).where(Attachment.message_id.in_(seen)))
        attachments = [
            {
                "message_id": o.item.id,
                "position": n,
                "filename": a.filename,
                "content_type": a.content_type,
                "content_id": a.content_id,
                "inline": a.inline,
                "size": a.size,
                "sha256": a.sha256,
                "content": None,  # extracted from the raw bytes on demand; the raw bytes are the truth
            }
            for o in todo
            for n, a in enumerate(o.attachments)
        ]
        insert_rows(session, _table(Attachment), attachments)
    logs = [_log_row(account, o, level, text, now) for o in outcomes for level, text in o.logs]
    logs += [
        _log_row(
            account, o, "warning", f"message {o.item.id} ({o.item.ref.key}) not finished: {o.reason}", now
        )
        for o in outcomes
        if not o.accepted
    ]
    insert_rows(session, _table(EmailLog), logs)
    learnt = [(c, o.item.id) for o in todo for c in o.certificates]
    if learnt:
        record_certificates(session, account, learnt, now=now)
    accepted = [o for o in outcomes if o.accepted and o.item.id not in already_known]
    if accepted:
        insert_rows(
            session,
            _table(KnownKey),
            [
                {
                    "account": account,
                    "folder": folder,
                    "key": o.item.ref.key,
                    "uidvalidity": o.item.key.uidvalidity,
                    "message_id": o.item.id,
                    "created_at": now,
                }
                for o in accepted
            ],
        )
    changes = [change for o in accepted for change in _changes(o, _pending_action(after), now)]
    insert_rows(session, _table(PendingChange), changes)
    for outcome in outcomes:
        for queued in outcome.queued:
            enqueue(session, queued.account, queued.prepared, at=queued.at, now=now)
    return bool(changes)


def _table(model: type[Any]) -> Table:
    return model.__table__  # type: ignore[no-any-return]


def _changes(
    outcome: Outcome, after: tuple[PendingAction, str | None] | None, now: Any
) -> list[dict[str, object]]:
    """The pending changes of an accepted message: its steps' flags, then its steps' move or ``after``."""
    rows: list[dict[str, object]] = []

    def add(action: PendingAction, target: str | None = None, flags: str | None = None) -> None:
        rows.append(
            {
                "message_id": outcome.item.id,
                "action": action,
                "target_folder": target,
                "flags": flags,
                "state": PendingState.PENDING,
                "created_at": now,
            }
        )

    if outcome.add_flags:
        add(PendingAction.FLAG, flags=" ".join(outcome.add_flags))
    if outcome.move_to is not None:
        add(PendingAction.MOVE, outcome.move_to)
    elif after is not None:
        add(*after)
    return rows


def _log_row(account: str, outcome: Outcome, level: str, text: str, now: Any) -> dict[str, object]:
    return {
        "time": now,
        "level": LogLevel(level),
        "account": account,
        "message_id": outcome.item.id,
        "text": text,
    }


@frozen
class Applied:
    """How many messages the after-replication action moved or deleted."""

    moved: int = 0
    deleted: int = 0


def apply_pending(
    sessions: SessionFactory,
    mailbox: Mailbox,
    *,
    account: str,
    folder: str,
    uidvalidity: int | None,
    message_ids: Sequence[int] | None = None,
    batch_number: int = -1,
) -> Applied:
    """Make the pending server changes of ``account``/``folder`` (only ``message_ids`` when given).

    Changes whose message's key is from another UIDVALIDITY than ``uidvalidity`` stay pending and
    are not sent; the rest are sent as one delete and one move per target, then marked applied.
    """
    query = (
        select(
            PendingChange.id,
            PendingChange.action,
            PendingChange.target_folder,
            PendingChange.flags,
            MessageRow.uidvalidity,
            MessageRow.uid,
            MessageRow.uidl,
        )
        .join(MessageRow, MessageRow.id == PendingChange.message_id)
        .where(
            PendingChange.state == PendingState.PENDING,
            MessageRow.account == account,
            MessageRow.folder == folder,
        )
        .order_by(PendingChange.id)
    )
    if message_ids is not None:
        if not message_ids:
            return Applied()
        query = query.where(PendingChange.message_id.in_(list(message_ids)))
    with sessions() as session:
        rows = session.execute(query).all()
    groups: dict[tuple[PendingAction, str | None], tuple[list[int], list[MessageRef]]] = {}
    for row in rows:
        if row.uidl is None and row.uidvalidity != uidvalidity:
            continue  # a stale key: that UID may now be another message
        detail = row.flags if row.action is PendingAction.FLAG else row.target_folder
        ids, refs = groups.setdefault((row.action, detail), ([], []))
        ids.append(row.id)
        key = format_key(row.uidvalidity, row.uid, row.uidl)
        if all(r.key != key for r in refs):
            refs.append(MessageRef(key))
    moved = deleted = 0
    done: list[int] = []
    flags_first = sorted(groups.items(), key=lambda group: group[0][0] is not PendingAction.FLAG)
    for (action, target), (ids, refs) in flags_first:
        if action is PendingAction.FLAG:
            _add_flags(mailbox, folder, refs, (target or "").split())
        elif action is PendingAction.DELETE:
            mailbox.delete(folder, refs)
            deleted += len(refs)
        else:
            mailbox.move(folder, refs, target or "")
            moved += len(refs)
        done.extend(ids)
    if not done:
        return Applied()
    checkpoint(Boundary.SERVER_CHANGED, batch_number)
    with sessions() as session:
        session.execute(
            update(PendingChange)
            .where(PendingChange.id.in_(done))
            .values(state=PendingState.APPLIED, applied_at=utcnow())
        )
    checkpoint(Boundary.CHANGES_MARKED, batch_number)
    return Applied(moved=moved, deleted=deleted)


def _add_flags(mailbox: Mailbox, folder: str, refs: Sequence[MessageRef], flags: Sequence[str]) -> None:
    """Flag ``refs``; a mailbox that cannot (POP3) gets nothing, which the pipeline check prevents."""
    if isinstance(mailbox, FlaggingMailbox) and "flags" in mailbox.capabilities():
        mailbox.add_flags(folder, refs, flags)


def advance_state(session: Session, *, account: str, folder: str, uidvalidity: int | None) -> None:
    """Record the folder's UIDVALIDITY and the highest UID stored under it (one indexed aggregate).

    Taken from the stored rows rather than from a batch, so a run that crashed before this step is
    made good by the next run's call, whatever it fetches.
    """
    last = 0
    if uidvalidity is not None:
        last = (
            session.scalar(
                select(func.max(MessageRow.uid)).where(
                    MessageRow.account == account,
                    MessageRow.folder == folder,
                    MessageRow.uidvalidity == uidvalidity,
                )
            )
            or 0
        )
    row = session.get(FolderSync, (account, folder))
    if row is None:
        session.add(FolderSync(account=account, folder=folder, uidvalidity=uidvalidity, last_uid=last))
    else:
        row.uidvalidity, row.last_uid = uidvalidity, last
    session.flush()
