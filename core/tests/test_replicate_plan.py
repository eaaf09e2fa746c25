"""The pure plan of a replication run: selection, batches, keys and what a UIDVALIDITY change means."""

from __future__ import annotations

import pytest

from mailconduit import FetchStrategy, MessageRef, ReceiveSettings
from mailconduit._replicate._plan import (
    Key,
    Validity,
    batches,
    check_validity,
    format_key,
    oldest_first,
    parse_key,
    plan_run,
    run_size,
)


def refs(count: int, size: int | None = None) -> list[MessageRef]:
    return [MessageRef(f"7:{n}", size) for n in range(1, count + 1)]


def settings(**kw: object) -> ReceiveSettings:
    return ReceiveSettings(protocol="imap", host="h", **kw)  # type: ignore[arg-type]


def test_run_size_follows_limit_then_everything_then_per_run() -> None:
    assert run_size(settings(), limit=None, everything=None) == 50
    assert run_size(settings(messages_per_run=3), limit=None, everything=None) == 3
    assert run_size(settings(replicate_everything=True), limit=None, everything=None) is None
    assert run_size(settings(replicate_everything=True), limit=None, everything=False) == 50
    assert run_size(settings(), limit=None, everything=True) is None
    assert run_size(settings(replicate_everything=True), limit=4, everything=True) == 4
    with pytest.raises(ValueError, match="at least 1"):
        run_size(settings(), limit=0, everything=None)


def test_plan_takes_the_first_in_strategy_order_and_counts_the_rest() -> None:
    new = refs(10)
    plan = plan_run(new, 3)
    assert [r.key for r in plan.selected] == ["7:1", "7:2", "7:3"] and plan.remaining == 7
    assert plan_run(new, None).remaining == 0 and len(plan_run(new, None).selected) == 10
    assert plan_run([], 5).selected == ()
    assert oldest_first(FetchStrategy.OLDEST) and not oldest_first(FetchStrategy.LATEST)


def test_batches_by_count_and_bytes_keep_order() -> None:
    assert [len(b) for b in batches(refs(7), size=3)] == [3, 3, 1]
    assert [len(b) for b in batches(refs(5, size=40), size=100, max_bytes=100)] == [2, 2, 1]
    big = [MessageRef("7:1", 10), MessageRef("7:2", 500), MessageRef("7:3", 10)]
    assert [[r.key for r in b] for b in batches(big, size=10, max_bytes=100)] == [["7:1"], ["7:2"], ["7:3"]]
    assert [r.key for b in batches(refs(9), size=2) for r in b] == [r.key for r in refs(9)]
    assert batches([], size=3) == []
    with pytest.raises(ValueError):
        batches(refs(1), size=0)


def test_validity() -> None:
    assert check_validity(None, 5, seen_before=False) is Validity.FIRST
    assert check_validity(5, 5, seen_before=True) is Validity.SAME
    assert check_validity(None, None, seen_before=True) is Validity.SAME  # POP3
    assert check_validity(5, 6, seen_before=True) is Validity.CHANGED


def test_keys_round_trip_and_refuse_garbage() -> None:
    assert parse_key("12:34", uidvalidity_keys=True) == Key(12, 34, None)
    assert parse_key("AbC:12", uidvalidity_keys=False) == Key(None, None, "AbC:12")
    assert format_key(12, 34, None) == "12:34" and format_key(None, None, "u1") == "u1"
    for bad in ("12", "a:1", "1:b", ":", "1:2:3"):
        with pytest.raises(ValueError, match="is not '<uidvalidity>:<uid>'"):
            parse_key(bad, uidvalidity_keys=True)
