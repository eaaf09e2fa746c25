"""Render a Template with data into a Message: language variant, fields, escaping, header checks.

Data may be any mapping or object (attrs, dataclass, SQLAlchemy row or mapped instance, plain
object); its top-level names become placeholders and nested attributes or keys are reached with
dots. The HTML body is rendered with autoescape on, every other field with it off. Rendered
header fields (subject, from display name, address lists) must hold no CR, LF, NUL or other line
break: a value that does is refused naming the field, never folded into extra headers.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from mailconduit._addresses import parse_address_list
from mailconduit._errors import AddressError, HeaderInjectionError, TemplateError
from mailconduit._message import Address, Message, Template

if TYPE_CHECKING:
    from mailconduit._plugins import PluginSet
    from mailconduit._protocols import TemplateEngine

__all__ = ["HEADER_FIELDS", "LANGUAGE_KEY", "Renderer", "as_data", "render_template", "select_variant"]

LANGUAGE_KEY = "language"
"""The data key that picks a language variant when the caller does not."""

HEADER_FIELDS = ("subject", "from_display_name", "to", "cc", "bcc", "reply_to")
_BODY_FIELDS = ("text", "html")
_FORBIDDEN = {"\r": "CR", "\n": "LF", "\0": "NUL", "\x0b": "VT", "\x0c": "FF", "\x85": "NEL",
              "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR"}  # fmt: skip


def as_data(data: object) -> dict[str, Any]:
    """The placeholders ``data`` provides: a mapping's items, or an object's public attributes.

    attrs and dataclass instances give their fields, SQLAlchemy rows their columns, mapped
    instances their mapped attributes, other objects their public attributes. Values are passed
    as they are, so ``{{ order.customer.name }}`` reaches nested objects and mappings.
    """
    if data is None:
        return {}
    if isinstance(data, Mapping):
        return {str(k): v for k, v in data.items()}
    row_mapping = getattr(data, "_mapping", None)  # sqlalchemy.engine.Row
    if isinstance(row_mapping, Mapping):
        return {str(k): v for k, v in row_mapping.items()}
    if attrs.has(type(data)):
        return {a.name: getattr(data, a.name) for a in attrs.fields(type(data))}  # type: ignore[arg-type]
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    mapper = getattr(type(data), "__mapper__", None)  # SQLAlchemy declarative instance
    if mapper is not None:
        return {prop.key: getattr(data, prop.key) for prop in mapper.attrs}
    return {name: getattr(data, name) for name in dir(data) if not name.startswith("_")}


def select_variant(
    template: Template, language: str | None = None, data: Mapping[str, Any] | None = None
) -> Template:
    """The variant for ``language`` (the caller's), else ``data["language"]``, else the default.

    A variant's empty fields are filled from ``template``. A language the data asks for that has
    no variant falls back to the default; one the caller asks for explicitly is an error.

    Raises:
        TemplateError: the caller asked for a language the template has no variant for.
    """
    default = template.default_language or template.language
    wanted = language
    if wanted is None and data is not None and isinstance(data.get(LANGUAGE_KEY), str):
        wanted = data[LANGUAGE_KEY] if data[LANGUAGE_KEY] in template.variants else None
    wanted = wanted or default
    if wanted is None or wanted == template.language:
        return template
    variant = template.variants.get(wanted)
    if variant is None:
        if language is not None:
            known = ", ".join(
                sorted({*template.variants, *([template.language] if template.language else [])})
            )
            raise TemplateError(
                f"template {template.name!r} has no {wanted!r} variant; languages: {known or 'none'}"
            )
        return template
    changes: dict[str, Any] = {
        key: getattr(variant, key)
        for key in (*HEADER_FIELDS, *_BODY_FIELDS)
        if getattr(variant, key) not in (None, "")
    }
    if variant.attachments:
        changes["attachments"] = variant.attachments
    return attrs.evolve(template, language=wanted, variants={}, **changes)


def _check_header(template: str, field: str, value: str) -> str:
    for char, label in _FORBIDDEN.items():
        if char in value:
            raise HeaderInjectionError(
                field,
                f"template {template!r} rendered a value containing {label}; a header must be one line "
                "(check the data given for this field)",
            )
    return value


def _addresses(template: str, field: str, value: str) -> list[Address]:
    try:
        return parse_address_list(value, field=field) if value.strip() else []
    except AddressError as exc:
        raise AddressError(f"template {template!r}, field {field!r}: {exc}") from None


class Renderer:
    """Renders templates with the engines their ``engine`` names, each built once and reused.

    Args:
        plugins: the plugin set whose engines to use; None uses only the built-in ``jinja2``.
    """

    def __init__(self, plugins: PluginSet | None = None) -> None:
        self._plugins = plugins
        self._engines: dict[str, TemplateEngine] = {}
        self._lock = threading.Lock()

    def engine(self, name: str) -> TemplateEngine:
        """The engine registered as ``name``.

        Raises:
            NotRegisteredError: no plugin registered it (with plugins); TemplateError (without).
        """
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                if self._plugins is not None:
                    engine = self._plugins.template_engine(name)
                elif name == "jinja2":
                    from mailconduit._builtins.jinja import Jinja2Engine

                    engine = Jinja2Engine()
                else:
                    raise TemplateError(f"template engine {name!r} needs the plugin set; pass plugins=")
                self._engines[name] = engine
            return engine

    def render(
        self,
        template: Template,
        data: object = None,
        *,
        language: str | None = None,
        from_address: str | None = None,
        default_display_name: str | None = None,
    ) -> Message:
        """Render ``template`` with ``data`` into a Message (see :func:`render_template`).

        ``default_display_name`` (the account's) is used when the template renders no display name.
        """
        values = as_data(data)
        chosen = select_variant(template, language, values)
        engine = self.engine(chosen.engine)
        name = chosen.name if chosen.language is None else f"{chosen.name}[{chosen.language}]"

        def field(key: str, autoescape: bool = False) -> str | None:
            source = getattr(chosen, key)
            if source is None:
                return None
            return engine.render(
                source, values, name=f"template {name!r}, field {key!r}", autoescape=autoescape
            )

        subject = _check_header(name, "subject", field("subject") or "")
        display = field("from_display_name")
        if display is not None:
            display = _check_header(name, "from_display_name", display).strip() or None
        lists: dict[str, list[Address]] = {}
        for key in ("to", "cc", "bcc", "reply_to"):
            rendered = _check_header(name, key, field(key) or "")
            lists[key] = _addresses(name, key, rendered)
        from_ = Address(from_address, display or default_display_name) if from_address else None
        return Message(
            from_=from_,
            to=lists["to"],
            cc=lists["cc"],
            bcc=lists["bcc"],
            reply_to=lists["reply_to"],
            subject=subject,
            text=field("text"),
            html=field("html", autoescape=True),
            attachments=tuple(chosen.attachments),
        )


_DEFAULT = Renderer()


def render_template(
    template: Template,
    data: object = None,
    *,
    language: str | None = None,
    from_address: str | None = None,
    plugins: PluginSet | None = None,
) -> Message:
    """Render ``template`` with ``data`` into a Message ready to send, queue or keep as a draft.

    Args:
        template: the template.
        data: a mapping or any object (attrs, dataclass, SQLAlchemy row); see :func:`as_data`.
        language: the variant to use; else ``data["language"]``, else the template's default.
        from_address: the sending mailbox; with the rendered ``from_display_name`` it becomes From.
            Without it From is left to the account when the message is sent.
        plugins: the plugin set whose engines to use (None: the built-in ``jinja2`` engine).

    Raises:
        TemplateError: a syntax error, a missing placeholder or a sandbox refusal; the message
            names the template, the field and the line.
        RenderLimitError: a field exceeded the engine's time or output budget.
        HeaderInjectionError: a rendered header holds CR, LF, NUL or another line break.
        AddressError: a rendered address list cannot be parsed exactly.
    """
    renderer = _DEFAULT if plugins is None else Renderer(plugins)
    return renderer.render(template, data, language=language, from_address=from_address)
