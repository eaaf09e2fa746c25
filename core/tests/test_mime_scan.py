"""The cheap ingest scan: fields from the raw header block, bounded, never raising."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailconduit._mime import scan_headers
from mailconduit._mime._scan import parse_date


def test_fields_are_picked_and_decoded() -> None:
    raw = (
        b"Received: from x\r\nFrom: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\n"
        b"To: a@example.org,\r\n b@example.org\r\n"
        b"Subject: =?utf-8?b?w6Q=?= =?utf-8?b?w7Y=?=\r\nDate: Tue, 12 Nov 2013 09:12:42 -0500\r\n"
        b"Message-ID: <x1@example.org>\r\n\r\nSubject: not this one\r\n"
    )
    scan = scan_headers(raw)
    assert scan.subject == "äö"
    assert scan.from_ == "Jörg <j@example.org>"
    assert scan.to == "a@example.org, b@example.org"
    assert scan.message_id == "<x1@example.org>"
    assert scan.date is not None and scan.date.year == 2013
    assert raw[scan.header_end :] == b"Subject: not this one\r\n"
    assert scan.defects == []


def test_missing_blank_line_and_bad_date_are_defects() -> None:
    scan = scan_headers(b"Subject: x\nDate: yesterday\n")
    assert "no blank line ends the header block" in scan.defects
    assert "Date header cannot be parsed" in scan.defects
    assert scan.subject == "x"


def test_encoded_words_are_bounded() -> None:
    subject = b" ".join([b"=?utf-8?q?a?="] * 20_000)
    scan = scan_headers(b"Subject: " + subject + b"\r\n\r\n")
    assert scan.subject is not None and scan.subject.startswith("a" * 1000 + "=?utf-8?q?a?=")
    assert any(d.startswith("limit_exceeded") for d in scan.defects)


def test_latin1_header_bytes_are_read_with_a_defect() -> None:
    scan = scan_headers(b"Subject: caf\xe9\r\n\r\n")
    assert scan.subject == "café"
    assert scan.defects


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=2000))
def test_scan_never_raises_on_arbitrary_bytes_2000_examples(raw: bytes) -> None:
    scan = scan_headers(raw)
    assert scan.header_end <= len(raw)


@pytest.mark.parametrize("date", ["Wed, 20 Sep 1995 00:19:00 (EDT) -0400", "Mon, 23 Nov 2026 09:00:00 -0000"])
def test_a_date_without_a_usable_zone_is_read_as_utc_with_a_defect(date: str) -> None:
    from mailconduit._mime._scan import parse_date

    defects: list[str] = []
    parsed = parse_date(date, defects)
    assert parsed is not None and parsed.utcoffset() is not None
    assert parsed.tzinfo is not None
    assert defects == ["Date header has no usable time zone; read as UTC"]


@given(
    when=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    minutes=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    day_name=st.booleans(),
)
def test_the_usual_date_form_reads_as_the_stdlib_reads_it(
    when: datetime, minutes: int, day_name: bool
) -> None:
    text = format_datetime(when.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=minutes))))
    text = text if day_name else text[5:]
    defects: list[str] = []
    got = parse_date(text, defects)
    want = parsedate_to_datetime(text)
    assert got == want and got is not None and got.utcoffset() == want.utcoffset() and not defects


@pytest.mark.parametrize(
    "text",
    [
        "Mon, 1 Jan 2024 10:00:00 -0000",  # zone unknown: read as UTC, with a defect
        "Tue, 31 Feb 2024 10:00:00 +0000",  # no such day
        "Wed, 02 Oct 2002 08:00:00 EST",  # an obsolete zone name
        "Mon, 1 Jan 2024 24:00:00 +0000",
        "Mon,  1 Jan 2024 10:00:00 +0000",
        "Mon, 1 Foo 2024 10:00:00 +0000",
    ],
)
def test_other_date_forms_are_left_to_the_stdlib(text: str) -> None:
    defects: list[str] = []
    got = parse_date(text, defects)
    try:
        want: datetime | None = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        want = None
    if want is not None and want.tzinfo is None:
        want = want.replace(tzinfo=UTC)
        assert defects == ["Date header has no usable time zone; read as UTC"]
    assert got == want
