"""The plan of a replication run, as pure functions: which refs to fetch, in which batches, under which key.

Nothing here talks to a server or the store: the run hands in what the folder reports and what the
store knows, and gets back the selection, the batches and what a UIDVALIDITY change means.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from attrs import frozen

from mailconduit._model import FetchStrategy, ReceiveSettings
from mailconduit._types import MessageRef

__all__ = [
    "BATCH_BYTES",
    "BATCH_SIZE",
    "Key",
    "Plan",
    "Validity",
    "batches",
    "check_validity",
    "format_key",
    "oldest_first",
    "parse_key",
    "plan_run",
    "run_size",
]

BATCH_SIZE = 500
"""Messages per batch (one raw commit and one results commit each; PERFORMANCE.md)."""

BATCH_BYTES = 64 * 1024 * 1024
"""A batch is closed early once its messages add up to this many bytes (a single larger one goes alone)."""


class Validity(enum.Enum):
    """What the folder's UIDVALIDITY says about the keys the store holds for it."""

    FIRST = "first"  # the store has never seen this folder
    SAME = "same"  # keys stored for the folder still name the same messages
    CHANGED = "changed"  # every stored key is stale: reconcile by content hash and Message-ID


def check_validity(stored: int | None, current: int | None, *, seen_before: bool) -> Validity:
    """Compare the UIDVALIDITY the store recorded with the one the server reports now.

    Args:
        stored: the UIDVALIDITY in the store's folder state (None if never recorded or POP3).
        current: the UIDVALIDITY the server reports (None for POP3).
        seen_before: whether the store has a folder state for this folder at all.
    """
    if not seen_before:
        return Validity.FIRST
    if stored is None or current is None or stored == current:
        return Validity.SAME
    return Validity.CHANGED


@frozen
class Key:
    """A message's store key: ``uidvalidity`` and ``uid`` for IMAP, ``uidl`` for POP3."""

    uidvalidity: int | None
    uid: int | None
    uidl: str | None


def parse_key(key: str, *, uidvalidity_keys: bool) -> Key:
    """Split a ``MessageRef.key`` into store columns.

    Args:
        key: ``"<uidvalidity>:<uid>"`` when the mailbox has the ``uidvalidity`` capability,
            else a UIDL.
        uidvalidity_keys: whether the mailbox reports the ``uidvalidity`` capability.

    Raises:
        ValueError: an IMAP-style key that is not two decimal numbers.
    """
    if not uidvalidity_keys:
        return Key(None, None, key)
    validity, sep, uid = key.partition(":")
    if not (sep and validity.isdigit() and uid.isdigit()):
        raise ValueError(f"message key {key[:80]!r} is not '<uidvalidity>:<uid>'")
    return Key(int(validity), int(uid), None)


def format_key(uidvalidity: int | None, uid: int | None, uidl: str | None) -> str:
    """The ``MessageRef.key`` for store columns (the inverse of :func:`parse_key`)."""
    if uidl is not None:
        return uidl
    return f"{uidvalidity}:{uid}"


@frozen
class Plan:
    """What one run takes: the selected refs in fetch order, and how many new ones it leaves."""

    selected: tuple[MessageRef, ...]
    remaining: int


def run_size(settings: ReceiveSettings, *, limit: int | None, everything: bool | None) -> int | None:
    """How many messages one run takes: ``limit``, else all when replicating everything, else per run."""
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        return limit
    if everything if everything is not None else settings.replicate_everything:
        return None
    return settings.messages_per_run


def plan_run(new: Sequence[MessageRef], size: int | None) -> Plan:
    """Select the first ``size`` of ``new`` (already in strategy order; None takes all)."""
    chosen = tuple(new if size is None else new[:size])
    return Plan(selected=chosen, remaining=len(new) - len(chosen))


def oldest_first(strategy: FetchStrategy) -> bool:
    """Whether ``strategy`` lists the oldest messages first."""
    return strategy is FetchStrategy.OLDEST


def batches(
    refs: Sequence[MessageRef], *, size: int = BATCH_SIZE, max_bytes: int = BATCH_BYTES
) -> list[list[MessageRef]]:
    """Cut ``refs`` into batches of at most ``size`` messages and about ``max_bytes`` (order kept).

    A ref of unknown size counts as 0 bytes; a message larger than ``max_bytes`` forms a batch alone.
    """
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    out: list[list[MessageRef]] = []
    current: list[MessageRef] = []
    weight = 0
    for ref in refs:
        bytes_ = ref.size or 0
        if current and (len(current) >= size or weight + bytes_ > max_bytes):
            out.append(current)
            current, weight = [], 0
        current.append(ref)
        weight += bytes_
    if current:
        out.append(current)
    return out
