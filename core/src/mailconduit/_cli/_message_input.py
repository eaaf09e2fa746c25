"""Turn CLI input (flags, a .eml file or a JSON file) into a ``Message`` for sending."""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from mailconduit._addresses import parse_address, parse_address_list
from mailconduit._errors import AddressError
from mailconduit._message import Address, Attachment, Message

__all__ = ["message_from_eml", "message_from_flags", "message_from_json", "parse_when"]

_RELATIVE = re.compile(r"^\+(\d+)([smhd])$")


def parse_when(text: str | None, now: datetime | None = None) -> datetime | None:
    """Parse ``--at``: ISO 8601 (naive means UTC) or ``+10m`` / ``+2h`` / ``+1d`` from now."""
    if text is None:
        return None
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit] * amount
        return now + timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r}: use ISO 8601 (2026-12-01T09:00) or +10m, +2h, +1d") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _addresses(values: Sequence[str], field: str) -> list[Address]:
    found: list[Address] = []
    for value in values:
        try:
            found.extend(parse_address_list(value, field=field))
        except AddressError as exc:
            raise click.BadParameter(str(exc), param_hint=f"--{field}") from None
    return found


def _attachment(path: str, *, inline_cid: str | None = None) -> Attachment:
    file = Path(path)
    if not file.is_file():
        raise click.BadParameter(f"{path}: no such file", param_hint="--attach/--inline")
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return Attachment(
        filename=file.name,
        content=file.read_bytes(),
        content_type=content_type,
        inline=inline_cid is not None,
        content_id=inline_cid,
    )


def message_from_flags(
    *,
    sender: Address,
    to: Sequence[str],
    cc: Sequence[str],
    bcc: Sequence[str],
    reply_to: Sequence[str],
    subject: str,
    text: str | None,
    html: str | None,
    attach: Sequence[str],
    inline: Sequence[str],
    headers: Sequence[str],
) -> Message:
    """Build a message from ``mailconduit send`` flags."""
    inline_parts = []
    for item in inline:
        cid, sep, path = item.partition("=")
        if not sep or not cid:
            raise click.BadParameter(f"{item!r}: use CID=FILE, referenced as cid:CID", param_hint="--inline")
        inline_parts.append(_attachment(path, inline_cid=cid))
    extra = {}
    for item in headers:
        name, sep, value = item.partition(":")
        if not sep:
            raise click.BadParameter(f"{item!r}: use 'Name: value'", param_hint="--header")
        extra[name.strip()] = value.strip()
    return Message(
        from_=sender,
        to=_addresses(to, "to"),
        cc=_addresses(cc, "cc"),
        bcc=_addresses(bcc, "bcc"),
        reply_to=_addresses(reply_to, "reply-to"),
        subject=subject,
        text=text,
        html=html,
        attachments=[*(_attachment(p) for p in attach), *inline_parts],
        headers=extra,
    )


def message_from_eml(path: Path, sender: Address) -> Message:
    """Read a .eml file: its recipients, subject, bodies and attachments (parsed within a budget)."""
    from mailconduit._mime import parse_message

    parsed = parse_message(path.read_bytes())
    if parsed.limit_exceeded:
        raise click.BadParameter(f"{path}: too large or too complex to send ({'; '.join(parsed.defects)})")
    return Message(
        from_=sender,
        to=parsed.to,
        cc=parsed.cc,
        reply_to=parsed.reply_to,
        subject=parsed.subject or "",
        text=parsed.text,
        html=parsed.html,
        attachments=parsed.attachments,
    )


def message_from_json(path: Path, sender: Address) -> Message:
    """Read a message from a JSON file.

    Keys: to/cc/bcc/reply_to (lists or ';'/',' separated strings), from, subject, text, html,
    attachments (``[{"path": ..., "inline_cid": ...}]``) and headers (``{name: value}``).
    """
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path}: expected a JSON object")

    def listed(key: str) -> list[str]:
        value = data.get(key) or []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    attachments = data.get("attachments") or []
    return message_from_flags(
        sender=parse_address(data["from"], field="from") if data.get("from") else sender,
        to=listed("to"),
        cc=listed("cc"),
        bcc=listed("bcc"),
        reply_to=listed("reply_to"),
        subject=str(data.get("subject", "")),
        text=data.get("text"),
        html=data.get("html"),
        attach=[a["path"] for a in attachments if not a.get("inline_cid")],
        inline=[f"{a['inline_cid']}={a['path']}" for a in attachments if a.get("inline_cid")],
        headers=[f"{k}: {v}" for k, v in (data.get("headers") or {}).items()],
    )
