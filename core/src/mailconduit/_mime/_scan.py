"""The cheap header-only scan used at ingest: a few fields picked out of the raw header block.

It never parses the MIME structure and never raises: the raw bytes are stored first and the full
parse runs later within a budget (PERFORMANCE.md, raw-first ingest; RELIABILITY.md fact 3).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from attrs import define, field

from mailconduit._mime._charsets import bytes_to_text, decode_encoded_words

__all__ = ["HeaderScan", "find_header_end", "parse_date", "scan_headers"]

MAX_HEADER_BYTES = 1 << 20  # a header block is looked for in the first MiB only
MAX_FIELD_CHARS = 65536  # longer decoded values are cut (with a defect)
MAX_WORDS = 1000  # encoded-words decoded per field

_BLANK_LINE = re.compile(rb"\n\r?\n")
_FIELDS = re.compile(rb"(?im)^(message-id|subject|from|date|to)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)")
_MSGID = re.compile(r"<[^<>\s]{1,900}>")


@define(frozen=True, kw_only=True)
class HeaderScan:
    """What the ingest scan found in a message's header block; every field may be None.

    Attributes:
        message_id: the Message-ID with angle brackets, or None when absent or malformed.
        subject: the decoded Subject.
        from_: the decoded From header as text (not split into addresses).
        to: the decoded To header as text.
        date: the Date as an aware datetime, or None when absent or unparseable.
        date_text: the Date header as written.
        header_end: the offset where the body starts (after the blank line), or the scanned length
            when no blank line ends the header block.
        defects: what was odd (no blank line, undecodable words, limits reached).
    """

    message_id: str | None = None
    subject: str | None = None
    from_: str | None = None
    to: str | None = None
    date: datetime | None = None
    date_text: str | None = None
    header_end: int = 0
    defects: list[str] = field(factory=list)


def find_header_end(raw: bytes, limit: int = MAX_HEADER_BYTES) -> int:
    """Offset of the first body byte, or -1 when no blank line ends the header block within ``limit``."""
    if raw.startswith((b"\r\n", b"\n")):
        return 2 if raw.startswith(b"\r\n") else 1
    match = _BLANK_LINE.search(raw, 0, limit)
    return match.end() if match else -1


_FOLD = re.compile(rb"\r?\n(?=[ \t])")


def _unfold(value: bytes) -> bytes:
    if b"\n" in value:
        value = _FOLD.sub(b"", value)
    return value.strip(b" \t\r\n")


def scan_headers(raw: bytes) -> HeaderScan:
    r"""Pick Message-ID, Subject, From, To and Date out of the raw header block; never raises.

    Work is bounded: only the first MiB is searched for the end of the header block, at most
    1,000 encoded-words per field are decoded, and decoded values are cut at 65,536 characters.

    Example:
        >>> scan_headers(b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nbody").subject
        'café'
    """
    defects: list[str] = []
    try:
        end = find_header_end(raw)
        if end < 0:
            defects.append(
                "no blank line ends the header block"
                + (" in the first MiB" if len(raw) > MAX_HEADER_BYTES else "")
            )
            block = raw[:MAX_HEADER_BYTES]
            end = len(block)
        else:
            block = raw[:end]
        found: dict[str, str] = {}
        for match in _FIELDS.finditer(block):
            name = match.group(1).decode("ascii").lower()
            if name in found:
                continue
            text = bytes_to_text(_unfold(match.group(2)), defects)
            if name not in ("date", "message-id"):
                text = decode_encoded_words(text, defects, max_words=MAX_WORDS)
            if len(text) > MAX_FIELD_CHARS:
                defects.append(f"limit_exceeded: {name} longer than {MAX_FIELD_CHARS} characters; cut")
                text = text[:MAX_FIELD_CHARS]
            found[name] = text
        message_id = None
        if "message-id" in found:
            mid = _MSGID.search(found["message-id"])
            message_id = mid.group() if mid else None
            if mid is None:
                defects.append("Message-ID is not of the form <id@domain>")
        date = parse_date(found.get("date"), defects)
        return HeaderScan(
            message_id=message_id,
            subject=found.get("subject"),
            from_=found.get("from"),
            to=found.get("to"),
            date=date,
            date_text=found.get("date"),
            header_end=end,
            defects=defects,
        )
    except Exception as exc:  # the scan must never stop ingest; the raw bytes are what counts
        return HeaderScan(defects=[*defects, f"header scan failed: {type(exc).__name__}"])


_MONTHS = {
    m: n
    for n, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# RFC 5322's usual form, "Mon, 1 Jan 2024 10:00:00 +0100" (day name optional): read without the stdlib
_USUAL_DATE = re.compile(
    r"(?:[A-Za-z]{3}, )?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"
)


def _usual_date(text: str) -> datetime | None:
    match = _USUAL_DATE.fullmatch(text)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    number = _MONTHS.get(month.lower())
    offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
    if number is None or (not offset and sign == "-") or offset >= timedelta(hours=24):
        return None  # "-0000" (zone unknown) and the odd cases: the stdlib decides
    try:
        zone = UTC if not offset else timezone(offset if sign == "+" else -offset)
        return datetime(int(year), number, int(day), int(hour), int(minute), int(second), tzinfo=zone)
    except ValueError:
        return None


def parse_date(text: str | None, defects: list[str]) -> datetime | None:
    """Parse an RFC 5322 date, or note a defect and return None."""
    if not text:
        return None
    usual = _usual_date(text)
    if usual is not None:
        return usual
    from email.utils import parsedate_to_datetime

    try:
        parsed = parsedate_to_datetime(text[:200])
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("Date header cannot be parsed")
        return None
    if parsed.tzinfo is None:
        # "-0000" or a zone the parser does not read ("(EDT) -0400"): RFC 5322 3.3 reads the time as UTC
        defects.append("Date header has no usable time zone; read as UTC")
        return parsed.replace(tzinfo=UTC)
    return parsed
