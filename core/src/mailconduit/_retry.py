"""Retry decisions as pure functions: reply classes, the backoff schedule with jitter, retry or give up.

No clock and no randomness of their own: callers pass the attempt number and a random source, so
tests check the schedule exactly (RELIABILITY.md C1 and B4) without sleeping.
"""

from __future__ import annotations

import enum
import random
from datetime import timedelta

from attrs import frozen

from mailconduit._model import Backoff

__all__ = ["JITTER", "ReplyClass", "RetryDecision", "backoff_delay", "classify_smtp_code", "decide_retry"]

JITTER = 0.10
"""Each delay is the schedule's value times a factor drawn uniformly from [1 - JITTER, 1 + JITTER]."""


class ReplyClass(enum.Enum):
    """What a server reply means for a retry."""

    SUCCESS = "success"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


def classify_smtp_code(code: int) -> ReplyClass:
    """Classify an SMTP reply code (RFC 5321 section 4.2.1): 2xx/3xx success, 4xx temporary, 5xx permanent.

    Anything outside 200-599 is a protocol violation and treated as temporary, so a garbled reply
    never throws a message away.
    """
    if 200 <= code < 400:
        return ReplyClass.SUCCESS
    if 500 <= code < 600:
        return ReplyClass.PERMANENT
    return ReplyClass.TEMPORARY


def backoff_delay(attempt: int, backoff: Backoff, rng: random.Random | None = None) -> timedelta:
    """The wait before retry number ``attempt`` (1 = the wait after the first failure).

    ``initial * 2**(attempt-1)``, capped at ``max``, times a jitter factor in [0.9, 1.1], and never
    above ``max``.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    base = backoff.initial.total_seconds() * (2 ** min(attempt - 1, 62))
    capped = min(base, backoff.max.total_seconds())
    factor = (rng or random.Random()).uniform(1 - JITTER, 1 + JITTER)
    return timedelta(seconds=min(capped * factor, backoff.max.total_seconds()))


@frozen
class RetryDecision:
    """Whether to try again, and after how long (None when giving up)."""

    retry: bool
    delay: timedelta | None
    reason: str


def decide_retry(
    attempts_made: int, max_attempts: int, temporary: bool, backoff: Backoff, rng: random.Random | None = None
) -> RetryDecision:
    """Decide what follows a failed attempt.

    Args:
        attempts_made: attempts so far, including the one that just failed (>= 1).
        max_attempts: the account's limit (1 = never retry).
        temporary: whether the failure was temporary (4xx, connection loss, timeout).
        backoff: the account's backoff settings.
        rng: the random source for jitter.
    """
    if not temporary:
        return RetryDecision(retry=False, delay=None, reason="permanent failure")
    if attempts_made >= max_attempts:
        return RetryDecision(
            retry=False, delay=None, reason=f"gave up after {attempts_made} of {max_attempts} attempts"
        )
    delay = backoff_delay(attempts_made, backoff, rng)
    return RetryDecision(
        retry=True, delay=delay, reason=f"temporary failure, attempt {attempts_made} of {max_attempts}"
    )
