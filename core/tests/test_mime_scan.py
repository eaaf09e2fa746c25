"""The cheap ingest scan: fields from the raw header block, bounded, never raising."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailconduit._mime import scan_headers


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
