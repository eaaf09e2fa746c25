"""Units in the YAML: durations, sizes and rates, and what a wrong one says."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailconduit import RateLimit
from mailconduit._config import format_duration, parse_duration, parse_rate, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20s", timedelta(seconds=20)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        (" 10M ", timedelta(minutes=10)),
        ("0s", timedelta(0)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("value", ["20", "20 s", "1w", "-5m", "", 20, True, None, "5m30"])
def test_bad_durations_say_what_is_expected(value: object) -> None:
    with pytest.raises(ValueError, match=r"^expected a duration like 20s, 5m, 1h or 1d, got "):
        parse_duration(value)


def test_format_duration_round_trips() -> None:
    for text in ("20s", "5m", "1h30m", "1d", "0s", "1d2h3m4s"):
        assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100MB", 100 * 1024**2),
        ("512KB", 512 * 1024),
        ("1GB", 1024**3),
        ("2 MiB", 2 * 1024**2),
        (4096, 4096),
        ("10", 10),
    ],
)
def test_sizes(value: object, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["100 TB", "MB", "1.5MB", -1, True, None])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(ValueError, match=r"^expected a size like"):
        parse_size(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30/min", RateLimit(30, timedelta(minutes=1))),
        ("500/h", RateLimit(500, timedelta(hours=1))),
        ("1/s", RateLimit(1, timedelta(seconds=1))),
        ("1000 / day", RateLimit(1000, timedelta(days=1))),
        ("100/5m", RateLimit(100, timedelta(minutes=5))),
    ],
)
def test_rates(text: str, expected: RateLimit) -> None:
    assert parse_rate(text) == expected


def test_bad_rates() -> None:
    with pytest.raises(ValueError, match=r"^expected a rate like 30/min, 500/h or 100/5m, got '30 per min'$"):
        parse_rate("30 per min")
    with pytest.raises(ValueError, match=r"unknown unit 'fortnight'"):
        parse_rate("3/fortnight")
    with pytest.raises(ValueError, match=r"^the count of a rate must be at least 1, got 0$"):
        parse_rate("0/min")
    with pytest.raises(ValueError, match=r"^the period of a rate must be positive"):
        parse_rate("5/0s")
