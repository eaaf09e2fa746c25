"""Export templates to XML (attachments base64) and import them back with defusedxml.

Layout::

    <mailconduit-templates version="1">
      <template name="welcome">
        <engine>jinja2</engine><subject>Hello {{ name }}</subject><html>...</html>
        <options queue="false" sign="false" encrypt="false" delay-seconds="60"/>
        <attachment filename="logo.png" content-type="image/png" inline="true"
                    content-id="logo">BASE64</attachment>
        <variant language="de">...the same fields...</variant>
      </template>
    </mailconduit-templates>

A field that is None is left out; text XML cannot carry exactly (CR, control characters) is
written base64 with ``encoding="base64"``. Reading forbids DTDs and entities, so billion laughs and
external entities are refused; any problem is a ``TemplateError`` naming the file and changes nothing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

from mailconduit._errors import TemplateError
from mailconduit._message import Template
from mailconduit._templates._codec import ATTACHMENT_KEYS, TEXT_KEYS, template_from_dict, template_to_dict

__all__ = ["FORMAT_VERSION", "ROOT", "export_xml", "import_xml"]

ROOT = "mailconduit-templates"
FORMAT_VERSION = "1"
_UNSAFE = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_OPTION_ATTRS = {"queue": "queue", "sign": "sign", "encrypt": "encrypt", "delay_seconds": "delay-seconds"}


def _text_element(parent: Any, tag: str, value: str) -> None:
    from xml.etree import ElementTree as ET

    element = ET.SubElement(parent, tag)
    if _UNSAFE.search(value):
        element.set("encoding", "base64")
        element.text = base64.b64encode(value.encode("utf-8")).decode("ascii")
    else:
        element.text = value


def _fill(element: Any, data: dict[str, Any]) -> None:
    from xml.etree import ElementTree as ET

    for key in TEXT_KEYS:
        if data[key] is not None:
            _text_element(element, key, data[key])
    options = ET.SubElement(element, "options")
    for key, attribute in _OPTION_ATTRS.items():
        value = data["options"][key]
        if value is not None:
            options.set(attribute, str(value).lower() if isinstance(value, bool) else repr(value))
    for attachment in data["attachments"]:
        part = ET.SubElement(element, "attachment")
        part.set("filename", attachment["filename"])
        part.set("content-type", attachment["content_type"])
        part.set("inline", "true" if attachment["inline"] else "false")
        if attachment["content_id"] is not None:
            part.set("content-id", attachment["content_id"])
        part.text = attachment["content_base64"]
    for language, variant in data["variants"].items():
        child = ET.SubElement(element, "variant")
        child.set("language", language)
        _fill(child, variant)


def export_xml(templates: Sequence[Template]) -> bytes:
    """The XML document (UTF-8, with declaration) holding ``templates``."""
    from xml.etree import ElementTree as ET

    root = ET.Element(ROOT, version=FORMAT_VERSION)
    for template in templates:
        data = template_to_dict(template)
        element = ET.SubElement(root, "template", name=data["name"])
        _fill(element, data)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _bool(value: str | None, where: str) -> bool:
    if value in (None, "false"):
        return False
    if value == "true":
        return True
    raise TemplateError(f"{where}: must be true or false, got {value!r}")


def _read(element: Any, where: str) -> dict[str, Any]:
    data: dict[str, Any] = {"attachments": [], "variants": {}}
    for child in element:
        tag = child.tag
        at = f"{where}/{tag}"
        if tag in TEXT_KEYS:
            text = child.text or ""
            if child.get("encoding") == "base64":
                try:
                    text = base64.b64decode(text, validate=True).decode("utf-8")
                except ValueError:
                    raise TemplateError(f"{at}: not valid base64 text") from None
            data[tag] = text
        elif tag == "options":
            options: dict[str, Any] = {}
            for key, attribute in _OPTION_ATTRS.items():
                raw = child.get(attribute)
                if key == "delay_seconds":
                    try:
                        options[key] = float(raw) if raw is not None else None
                    except ValueError:
                        raise TemplateError(f"{at}: delay-seconds must be a number, got {raw!r}") from None
                else:
                    options[key] = _bool(raw, f"{at}@{attribute}")
            data["options"] = options
        elif tag == "attachment":
            item = {key: child.get(key.replace("_", "-")) for key in ATTACHMENT_KEYS[:4]}
            item["inline"] = _bool(item["inline"], f"{at}@inline")
            item["content_base64"] = "".join((child.text or "").split())
            data["attachments"].append(item)
        elif tag == "variant":
            language = child.get("language")
            if not language:
                raise TemplateError(f"{at}: needs a language attribute")
            data["variants"][language] = _read(child, f"{at}[{language}]")
        else:
            raise TemplateError(f"{at}: unknown element <{tag}>")
    return data


def import_xml(content: bytes, *, source: str = "<xml>") -> list[Template]:
    """The templates in an XML export, parsed with defusedxml (no DTD, no entities).

    Raises:
        TemplateError: the file is malformed, hostile (DTD, entities), not a template export, or
            holds an invalid template; the message names ``source``.
    """
    from xml.etree.ElementTree import ParseError

    import defusedxml
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise TemplateError(
            f"{source}: refused: the file declares a DTD or entities ({type(exc).__name__}), which template "
            "exports never do; nothing was imported"
        ) from None
    except ParseError as exc:
        raise TemplateError(f"{source}: not well-formed XML ({exc}); nothing was imported") from None
    if root.tag != ROOT:
        raise TemplateError(f"{source}: not a mailconduit template export (root <{root.tag}>, need <{ROOT}>)")
    if root.get("version") != FORMAT_VERSION:
        raise TemplateError(f"{source}: export version {root.get('version')!r} is not supported (need 1)")
    templates = []
    try:
        for index, element in enumerate(root):
            where = f"template[{index}]"
            if element.tag != "template":
                raise TemplateError(f"{where}: unknown element <{element.tag}>")
            data = _read(element, where)
            data["name"] = element.get("name")
            templates.append(template_from_dict(data, where=where))
    except TemplateError as exc:
        raise TemplateError(f"{source}: {exc}; nothing was imported") from None
    return templates
