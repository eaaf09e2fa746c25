"""Retry decisions: reply classes, the exponential schedule with bounded jitter, giving up."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from mailconduit import Backoff
from mailconduit._retry import JITTER, ReplyClass, backoff_delay, classify_smtp_code, decide_retry

BACKOFF = Backoff(initial=timedelta(seconds=30), max=timedelta(hours=1))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (250, ReplyClass.SUCCESS),
        (354, ReplyClass.SUCCESS),
        (421, ReplyClass.TEMPORARY),
        (432, ReplyClass.TEMPORARY),
        (451, ReplyClass.TEMPORARY),
        (452, ReplyClass.TEMPORARY),
        (550, ReplyClass.PERMANENT),
        (554, ReplyClass.PERMANENT),
        (999, ReplyClass.TEMPORARY),
        (0, ReplyClass.TEMPORARY),
    ],
)
def test_smtp_reply_classes(code: int, expected: ReplyClass) -> None:
    assert classify_smtp_code(code) is expected


def test_schedule_doubles_within_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for attempt in range(1, 15):
        nominal = min(30 * 2 ** (attempt - 1), 3600)
        delay = backoff_delay(attempt, BACKOFF, rng).total_seconds()
        assert nominal * (1 - JITTER) <= delay <= min(nominal * (1 + JITTER), 3600)


def test_jitter_spreads_delays() -> None:
    rng = random.Random(1)
    delays = {backoff_delay(1, BACKOFF, rng) for _ in range(50)}
    assert len(delays) > 40


def test_permanent_failures_are_never_retried() -> None:
    decision = decide_retry(1, 5, temporary=False, backoff=BACKOFF)
    assert not decision.retry and decision.delay is None


def test_temporary_failures_retry_until_max_attempts() -> None:
    rng = random.Random(3)
    decisions = [decide_retry(n, 3, temporary=True, backoff=BACKOFF, rng=rng) for n in (1, 2, 3)]
    assert [d.retry for d in decisions] == [True, True, False]
    assert "gave up after 3 of 3" in decisions[2].reason


def test_default_single_attempt_means_no_retry() -> None:
    assert not decide_retry(1, 1, temporary=True, backoff=BACKOFF).retry


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        backoff_delay(0, BACKOFF)
