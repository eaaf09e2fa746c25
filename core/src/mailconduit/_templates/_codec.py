"""A template as plain data (dicts, strings, base64) and back, checked field by field.

The one shape the store's JSON, the YAML files and the XML export all carry, so every format
round-trips every field: attachments as base64, send options, language variants (without names:
a variant takes its template's name). Reading refuses unknown keys and wrong types with a
``TemplateError`` naming the template and the field.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mailconduit._errors import TemplateError
from mailconduit._message import Attachment, SendOptions, Template

__all__ = ["ATTACHMENT_KEYS", "OPTION_KEYS", "TEXT_KEYS", "template_from_dict", "template_to_dict"]

TEXT_KEYS = (
    "engine",
    "subject",
    "text",
    "html",
    "from_display_name",
    "to",
    "cc",
    "bcc",
    "reply_to",
    "language",
    "default_language",
)
"""Fields whose values are text (or None)."""

OPTION_KEYS = ("queue", "delay_seconds", "sign", "encrypt")
ATTACHMENT_KEYS = ("filename", "content_type", "inline", "content_id", "content_base64")


def _attachment_to_dict(attachment: Attachment) -> dict[str, Any]:
    return {
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "inline": attachment.inline,
        "content_id": attachment.content_id,
        "content_base64": base64.b64encode(attachment.content).decode("ascii"),
    }


def template_to_dict(template: Template, *, variant: bool = False) -> dict[str, Any]:
    """Every field of ``template`` as JSON-ready data (``variant=True`` leaves out the name)."""
    data: dict[str, Any] = {} if variant else {"name": template.name}
    for key in TEXT_KEYS:
        data[key] = getattr(template, key)
    options = template.options
    data["options"] = {
        "queue": options.queue,
        "delay_seconds": options.delay.total_seconds() if options.delay is not None else None,
        "sign": options.sign,
        "encrypt": options.encrypt,
    }
    data["attachments"] = [_attachment_to_dict(a) for a in template.attachments]
    data["variants"] = {
        language: template_to_dict(v, variant=True) for language, v in sorted(template.variants.items())
    }
    return data


def _problem(name: str, where: str, message: str) -> TemplateError:
    return TemplateError(f"template {name!r}, {where}: {message}")


def _check_keys(name: str, where: str, data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise _problem(name, where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def _mapping(name: str, where: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _problem(name, where, f"must be a mapping, got {type(value).__name__}")
    return value


def _bool(name: str, where: str, value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _problem(name, where, f"must be true or false, got {value!r}")
    return value


def _text(name: str, where: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _problem(name, where, f"must be text, got {type(value).__name__}")


def _attachment_from_dict(name: str, where: str, data: Any) -> Attachment:
    item = _mapping(name, where, data)
    _check_keys(name, where, item, ATTACHMENT_KEYS)
    filename = _text(name, f"{where}.filename", item.get("filename"))
    if not filename:
        raise _problem(name, f"{where}.filename", "is missing")
    encoded = _text(name, f"{where}.content_base64", item.get("content_base64")) or ""
    try:
        content = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _problem(name, f"{where}.content_base64", "is not valid base64") from None
    try:
        return Attachment(
            filename=filename,
            content=content,
            content_type=_text(name, f"{where}.content_type", item.get("content_type"))
            or "application/octet-stream",
            inline=_bool(name, f"{where}.inline", item.get("inline")),
            content_id=_text(name, f"{where}.content_id", item.get("content_id")),
        )
    except ValueError as exc:
        raise _problem(name, where, str(exc)) from None


def _options_from_dict(name: str, data: Any) -> SendOptions:
    options = _mapping(name, "options", data)
    _check_keys(name, "options", options, OPTION_KEYS)
    delay = options.get("delay_seconds")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0):
        raise _problem(name, "options.delay_seconds", f"must be a number of seconds >= 0, got {delay!r}")
    return SendOptions(
        queue=_bool(name, "options.queue", options.get("queue")),
        delay=timedelta(seconds=delay) if delay is not None else None,
        sign=_bool(name, "options.sign", options.get("sign")),
        encrypt=_bool(name, "options.encrypt", options.get("encrypt")),
    )


def template_from_dict(data: Any, *, name: str | None = None, where: str = "") -> Template:
    """Build a Template from :func:`template_to_dict`'s shape; missing keys take their defaults.

    Args:
        data: the mapping.
        name: the template's name when ``data`` has none (variants, files named after it).
        where: a prefix for error locations (``variants.de``).

    Raises:
        TemplateError: an unknown key or a value of the wrong type; the message names the field.
    """
    top = _mapping(name or "?", where or "template", data)
    given = top.get("name", name)
    if not isinstance(given, str) or not given:
        raise TemplateError(f"template {where or 'definition'}: 'name' is missing or not text")
    prefix = f"{where}." if where else ""
    allowed = ("name", *TEXT_KEYS, "options", "attachments", "variants")
    _check_keys(given, where or "definition", top, allowed)
    fields: dict[str, Any] = {key: _text(given, prefix + key, top.get(key)) for key in TEXT_KEYS}
    fields["engine"] = fields["engine"] or "jinja2"
    fields["subject"] = fields["subject"] or ""
    raw_attachments = top.get("attachments") or []
    if not isinstance(raw_attachments, list):
        raise _problem(given, prefix + "attachments", "must be a list")
    attachments = tuple(
        _attachment_from_dict(given, f"{prefix}attachments[{i}]", item)
        for i, item in enumerate(raw_attachments)
    )
    variants = {
        str(language): template_from_dict(v, name=given, where=f"{prefix}variants.{language}")
        for language, v in _mapping(given, prefix + "variants", top.get("variants")).items()
    }
    return Template(
        name=given,
        attachments=attachments,
        variants=variants,
        options=_options_from_dict(given, top.get("options")),
        **fields,
    )
