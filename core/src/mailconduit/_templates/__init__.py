"""Templates: rendering into messages, storage, a folder of files, drafts, sending, XML/YAML export.

Modules: ``_codec`` (a template as plain data), ``_render`` (Template + data -> Message), ``_repo``
(templates in the store), ``_files`` (the config's ``templates:`` folder), ``_xml`` and
``_yaml_io`` (export and import), ``_options`` (send-time options, sign/encrypt checks), ``_send``
(send with a template through the outbox), ``_drafts`` (drafts kept for review).
"""

from __future__ import annotations

from mailconduit._templates._codec import template_from_dict, template_to_dict
from mailconduit._templates._drafts import Draft, Drafts
from mailconduit._templates._files import TemplateFolder, load_template_files
from mailconduit._templates._render import Renderer, as_data, render_template, select_variant
from mailconduit._templates._repo import TemplateStore
from mailconduit._templates._send import SendOutcome, send_template
from mailconduit._templates._xml import export_xml, import_xml
from mailconduit._templates._yaml_io import export_yaml, import_yaml

__all__ = [
    "Draft",
    "Drafts",
    "Renderer",
    "SendOutcome",
    "TemplateFolder",
    "TemplateStore",
    "as_data",
    "export_xml",
    "export_yaml",
    "import_xml",
    "import_yaml",
    "load_template_files",
    "render_template",
    "select_variant",
    "send_template",
    "template_from_dict",
    "template_to_dict",
]
