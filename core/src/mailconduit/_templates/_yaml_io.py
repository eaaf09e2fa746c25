"""Export templates to YAML and import them back, for people who keep templates in git.

The file is ``{"mailconduit_templates": 1, "templates": [...]}`` with each template in the shape of
``_codec`` (multi-line text as literal blocks, attachments as base64). Reading uses the safe
loader and refuses aliases (no YAML "billion laughs"); a malformed file is a ``TemplateError``
naming the file and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mailconduit._errors import TemplateError
from mailconduit._message import Template
from mailconduit._templates._codec import template_from_dict, template_to_dict

__all__ = ["FORMAT_KEY", "FORMAT_VERSION", "export_yaml", "import_yaml", "load_yaml_mapping"]

FORMAT_KEY = "mailconduit_templates"
FORMAT_VERSION = 1


def export_yaml(templates: Sequence[Template]) -> str:
    """The YAML text of ``templates`` (every field, attachments base64)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    document = {FORMAT_KEY: FORMAT_VERSION, "templates": [template_to_dict(t) for t in templates]}
    dumped: str = yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    return dumped


def load_yaml_mapping(text: str, source: str) -> Any:
    """Parse YAML ``text`` with the safe loader, refusing aliases; errors name ``source``.

    Raises:
        TemplateError: the text is not valid YAML or uses aliases.
    """
    import yaml

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                where = f", line {mark.line + 1}" if mark is not None else ""
                raise TemplateError(f"{source}{where}: YAML aliases are not allowed in template files")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TemplateError(f"{source}{where}: not valid YAML: {problem}; nothing was imported") from None


def import_yaml(text: str, *, source: str = "<yaml>") -> list[Template]:
    """The templates in a YAML export.

    Raises:
        TemplateError: the text is malformed, not a template export, or a template is invalid;
            the message names ``source`` and the field.
    """
    document = load_yaml_mapping(text, source)
    if not isinstance(document, dict) or FORMAT_KEY not in document:
        raise TemplateError(f"{source}: not a mailconduit template export (no {FORMAT_KEY!r} key)")
    if document[FORMAT_KEY] != FORMAT_VERSION:
        raise TemplateError(
            f"{source}: export format {document[FORMAT_KEY]!r} is not supported (need {FORMAT_VERSION})"
        )
    items = document.get("templates")
    if not isinstance(items, list):
        raise TemplateError(f"{source}: 'templates' must be a list")
    try:
        return [template_from_dict(item, where=f"templates[{i}]") for i, item in enumerate(items)]
    except TemplateError as exc:
        raise TemplateError(f"{source}: {exc}; nothing was imported") from None
