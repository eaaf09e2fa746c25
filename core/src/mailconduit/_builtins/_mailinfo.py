"""What the built-in actions read from a received message: a summary, its header block, its first text part.

Everything here is bounded: the header block is read from at most ``MAX_HEADER_BYTES``, and the
first text part is looked for only in messages up to ``MAX_TEXT_SCAN`` bytes (the full parse is
the budgeted ingest step's job, not a reply's).
"""

from __future__ import annotations

import email
import email.policy
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from typing import Any

from mailconduit._addresses import parse_address, parse_address_list
from mailconduit._errors import AddressError
from mailconduit._message import Address
from mailconduit._types import StoredMessage

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_TEXT_SCAN",
    "auto_submitted_reason",
    "first_text",
    "header_block",
    "one_line",
    "reply_address",
    "summary",
    "template_data",
]

MAX_HEADER_BYTES = 64 * 1024
MAX_TEXT_SCAN = 256 * 1024
MAX_TEXT_CHARS = 20_000
_MAX_PARTS = 50


def one_line(value: str | None) -> str:
    """``value`` with line breaks turned into spaces (for log lines and headers); ``""`` for None."""
    return " ".join((value or "").split())


def summary(message: StoredMessage) -> dict[str, Any]:
    """The JSON summary of a message a webhook posts (and a template can use)."""
    return {
        "id": message.id,
        "account": message.account,
        "folder": message.folder,
        "message_id": message.message_id,
        "subject": message.subject,
        "from": message.from_,
        "date": message.date,
        "size": message.size,
        "sha256": message.sha256,
        "annotations": dict(message.annotations),
    }


def header_block(raw: bytes) -> EmailMessage:
    """The message's header fields (the body is not parsed), from at most ``MAX_HEADER_BYTES``."""
    head = raw[:MAX_HEADER_BYTES]
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = head.find(separator)
        if end >= 0:
            head = head[: end + len(separator)]
            break
    return BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)


def _header(headers: EmailMessage, name: str) -> str:
    value = headers.get(name)
    return one_line(str(value)) if value is not None else ""


def auto_submitted_reason(headers: EmailMessage) -> str | None:
    """Why a message must not get an automatic reply (RFC 3834), or None when it may.

    Auto-Submitted other than ``no``, Precedence bulk/list/junk, a List-Id (mailing lists), an
    empty return path (``Return-Path: <>``: a bounce) or a MAILER-DAEMON / postmaster sender.
    """
    auto = _header(headers, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"it is automatic mail (Auto-Submitted: {auto[:60]})"
    precedence = _header(headers, "Precedence").lower()
    if precedence in ("bulk", "list", "junk"):
        return f"it is bulk mail (Precedence: {precedence})"
    if _header(headers, "List-Id"):
        return "it came from a mailing list (List-Id)"
    if "Return-Path" in headers and _header(headers, "Return-Path").strip("<> ") == "":
        return "it has an empty return path (Return-Path: <>), as bounces do"
    sender = _header(headers, "From").lower()
    if "mailer-daemon" in sender or "postmaster@" in sender:
        return f"it comes from a mail system ({sender[:80]})"
    return None


def reply_address(headers: EmailMessage) -> Address | None:
    """Where a reply goes: the first Reply-To address, else the From address; None if neither parses."""
    for name in ("Reply-To", "From"):
        value = _header(headers, name)
        if not value:
            continue
        try:
            found = parse_address_list(value, field=name)
        except AddressError:
            try:
                found = [parse_address(value, field=name)]
            except AddressError:
                continue
        if found:
            return found[0]
    return None


def first_text(raw: bytes) -> str | None:
    """The first ``text/plain`` part, decoded, when the message is small enough to look cheaply."""
    if len(raw) > MAX_TEXT_SCAN:
        return None
    try:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        for index, part in enumerate(parsed.walk()):
            if index > _MAX_PARTS:
                return None
            if part.get_content_type() == "text/plain" and part.get_content_disposition() != "attachment":
                content = part.get_content()
                return str(content)[:MAX_TEXT_CHARS] if content is not None else None
    except Exception:  # a malformed message: no text, never a failed step
        return None
    return None


def template_data(message: StoredMessage, *, text: str | None) -> dict[str, Any]:
    """What a reply or forward template gets: the summary's fields, ``sender``, ``text``, ``message``.

    ``from`` is also there as ``sender`` (``from`` is a keyword in Jinja); ``text`` is the first
    text part when cheap to find (else None); ``reply_subject`` is ``Re: <subject>``.
    """
    data = summary(message)
    subject = one_line(message.subject)
    data.update(
        sender=message.from_,
        text=text,
        reply_subject=subject if subject.lower().startswith("re:") else f"Re: {subject}".strip(),
        message=summary(message),
    )
    return data
