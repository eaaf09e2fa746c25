"""Templates from the config's ``templates:`` folder: one YAML file per template.

``welcome.yaml`` defines the template ``welcome`` (a ``name:`` key may say otherwise) in the shape
of ``_codec``. An attachment may give ``file: images/logo.png`` instead of ``content_base64``; the
path is relative to the folder and must stay inside it. A YAML export file (several templates
under ``mailconduit_templates``) in the folder is read too.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from mailconduit._errors import TemplateError
from mailconduit._message import Template
from mailconduit._templates._codec import template_from_dict
from mailconduit._templates._yaml_io import FORMAT_KEY, import_yaml, load_yaml_mapping

__all__ = ["MAX_FILE_BYTES", "TemplateFolder", "load_template_files"]

MAX_FILE_BYTES = 50 * 1024 * 1024


def _read_bytes(path: Path, what: str) -> bytes:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TemplateError(f"{what}: file is larger than {MAX_FILE_BYTES} bytes")
    return path.read_bytes()


def _resolve_files(data: Any, folder: Path, source: str) -> Any:
    if not isinstance(data, dict):
        return data
    resolved = dict(data)
    attachments = resolved.get("attachments")
    if isinstance(attachments, list):
        items = []
        for index, item in enumerate(attachments):
            if isinstance(item, dict) and "file" in item:
                fields = dict(item)
                relative = fields.pop("file")
                path = (folder / str(relative)).resolve()
                if not path.is_relative_to(folder.resolve()) or not path.is_file():
                    raise TemplateError(
                        f"{source}: attachments[{index}].file {relative!r} is not a file inside {folder}"
                    )
                fields.setdefault("filename", path.name)
                content = _read_bytes(path, f"{source}: attachments[{index}]")
                fields["content_base64"] = base64.b64encode(content).decode("ascii")
                items.append(fields)
            else:
                items.append(item)
        resolved["attachments"] = items
    variants = resolved.get("variants")
    if isinstance(variants, dict):
        resolved["variants"] = {k: _resolve_files(v, folder, source) for k, v in variants.items()}
    return resolved


def load_template_files(folder: Path) -> list[Template]:
    """Every template defined in ``folder`` (``*.yaml`` and ``*.yml``), sorted by name.

    Raises:
        TemplateError: a file is malformed or invalid, or two files define the same name; the
            message names the file.
    """
    if not folder.is_dir():
        raise TemplateError(
            f"templates folder {folder} does not exist; create it or fix `templates:` in the config"
        )
    found: dict[str, tuple[Template, Path]] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        source = str(path)
        text = _read_bytes(path, source).decode("utf-8", errors="strict")
        data = load_yaml_mapping(text, source)
        if isinstance(data, dict) and FORMAT_KEY in data:
            templates = import_yaml(text, source=source)
        else:
            try:
                templates = [template_from_dict(_resolve_files(data, folder, source), name=path.stem)]
            except TemplateError as exc:
                raise TemplateError(f"{source}: {exc}") from None
        for template in templates:
            if template.name in found:
                raise TemplateError(
                    f"{source}: template {template.name!r} is also defined in {found[template.name][1]}"
                )
            found[template.name] = (template, path)
    return [found[name][0] for name in sorted(found)]


class TemplateFolder:
    """The templates of one folder, read when asked (so edits show without a restart).

    Args:
        folder: the folder (``Config.templates``).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        return f"TemplateFolder({str(self.folder)!r})"

    def list(self) -> list[Template]:
        """Every template in the folder, by name."""
        return load_template_files(self.folder)

    def find(self, name: str) -> Template | None:
        """The template ``name`` from the folder, or None."""
        return next((t for t in self.list() if t.name == name), None)
