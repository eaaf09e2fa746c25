"""``mailconduit template``: list, show, render, preview, export and import templates.

Templates come from the store and from the config's ``templates:`` folder (the store wins on a
name both hold). Export writes XML (or YAML with ``--format yaml``) to ``--out`` or to a file named
after the template(s) and the current date-time; import is all or nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailconduit._cli._context import CliContext

if TYPE_CHECKING:
    from mailconduit._message import Message, Template
    from mailconduit._templates import TemplateStore

__all__ = ["template"]


def _stored(ctx: CliContext) -> TemplateStore:
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._templates import TemplateStore

    return TemplateStore(open_cli_store(ctx))


def _folder_templates(ctx: CliContext) -> list[Template]:
    if ctx.config_file() is None or ctx.config().templates is None:
        return []
    from mailconduit._templates import load_template_files

    folder: Path = ctx.config().templates  # type: ignore[assignment]
    return load_template_files(folder)


def find_template(ctx: CliContext, name: str) -> Template:
    """The template ``name`` from the store, else from the templates folder."""
    store = _stored(ctx)
    try:
        found = store.find(name)
    finally:
        store.store.close()
    if found is not None:
        return found
    for candidate in _folder_templates(ctx):
        if candidate.name == name:
            return candidate
    raise click.ClickException(
        f"no template {name!r} in the store or the templates folder; see `template list`"
    )


def load_data(path: str | None) -> Any:
    """The data in a JSON or YAML file (``-`` reads stdin)."""
    if path is None:
        return {}
    text = click.open_file(path, encoding="utf-8").read()
    if path.endswith(".json"):
        import json

        return json.loads(text)
    from mailconduit._templates._yaml_io import load_yaml_mapping

    return load_yaml_mapping(text, path)


def show_message(message: Message) -> None:
    """Print a rendered message: headers, bodies, attachments."""
    if message.from_:
        click.echo(f"From: {message.from_}")
    for label, people in (
        ("To", message.to),
        ("Cc", message.cc),
        ("Bcc", message.bcc),
        ("Reply-To", message.reply_to),
    ):
        if people:
            click.echo(f"{label}: {', '.join(str(p) for p in people)}")
    click.echo(f"Subject: {message.subject}")
    for attachment in message.attachments:
        kind = "inline" if attachment.inline else "attachment"
        click.echo(
            f"{kind}: {attachment.filename} ({attachment.content_type}, {len(attachment.content)} bytes)"
        )
    if message.text is not None:
        click.echo("\n--- text ---\n" + message.text)
    if message.html is not None:
        click.echo("\n--- html ---\n" + message.html)


@click.group()
def template() -> None:
    """Templates: list, show, render, preview, export, import."""


@template.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_templates(ctx: CliContext, as_json: bool) -> None:
    """List templates in the store and in the templates folder."""
    from mailconduit._cli._output import records

    store = _stored(ctx)
    try:
        rows = [{"name": t.name, "source": "store", "subject": t.subject} for t in store.list()]
    finally:
        store.store.close()
    seen = {r["name"] for r in rows}
    rows += [
        {"name": t.name, "source": "folder", "subject": t.subject}
        for t in _folder_templates(ctx)
        if t.name not in seen
    ]
    records(sorted(rows, key=lambda r: r["name"]), ["name", "source", "subject"], "Templates", as_json)


@template.command("show")
@click.argument("name")
@click.pass_obj
def show(ctx: CliContext, name: str) -> None:
    """Print a template's definition (YAML, attachments base64)."""
    from mailconduit._templates import export_yaml

    click.echo(export_yaml([find_template(ctx, name)]), nl=False)


@template.command("render")
@click.argument("name")
@click.option("--data", "data_path", metavar="FILE", help="Data as JSON or YAML (- for stdin).")
@click.option("--language", help="The language variant.")
@click.pass_obj
def render(ctx: CliContext, name: str, data_path: str | None, language: str | None) -> None:
    """Render a template with data and print the message."""
    from mailconduit._templates import Renderer

    message = Renderer(ctx.plugins()).render(
        find_template(ctx, name), load_data(data_path), language=language
    )
    show_message(message)


@template.command("preview")
@click.argument("name")
@click.option("--data", "data_path", metavar="FILE", help="Data as JSON or YAML.")
@click.option("--language", help="The language variant.")
@click.option("--out", type=click.Path(dir_okay=False), help="The HTML file (default: NAME-preview.html).")
@click.pass_obj
def preview(ctx: CliContext, name: str, data_path: str | None, language: str | None, out: str | None) -> None:
    """Write the rendered HTML with its inline images to a file and say where."""
    from mailconduit._sanitize import render_inline_images
    from mailconduit._templates import Renderer

    message = Renderer(ctx.plugins()).render(
        find_template(ctx, name), load_data(data_path), language=language
    )
    if message.html is None:
        raise click.ClickException(f"template {name!r} has no HTML body to preview; use `template render`")
    path = Path(out or f"{_safe(name)}-preview.html")
    path.write_text(render_inline_images(message.html, message.attachments), encoding="utf-8")
    click.echo(f"preview written to {path.resolve()}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "template"


@template.command("export")
@click.argument("names", nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False), help="The file (default: NAME-YYYYmmdd-HHMMSS.xml).")
@click.option("--format", "fmt", type=click.Choice(["xml", "yaml"]), default="xml", show_default=True)
@click.pass_obj
def export(ctx: CliContext, names: tuple[str, ...], out: str | None, fmt: str) -> None:
    """Export one or more templates, attachments included."""
    from mailconduit._templates import export_xml, export_yaml

    templates = [find_template(ctx, name) for name in names]
    stem = _safe(names[0]) if len(names) == 1 else "templates"
    path = Path(out or f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.{fmt}")
    path.write_bytes(export_xml(templates) if fmt == "xml" else export_yaml(templates).encode("utf-8"))
    click.echo(f"exported {len(templates)} template(s) to {path}")


@template.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--replace", is_flag=True, help="Overwrite templates that already exist.")
@click.pass_obj
def import_(ctx: CliContext, file: str, replace: bool) -> None:
    """Import templates from an XML or YAML export; all or nothing."""
    from mailconduit._templates import import_xml, import_yaml

    content = Path(file).read_bytes()
    if file.endswith((".yaml", ".yml")):
        templates = import_yaml(content.decode("utf-8"), source=file)
    else:
        templates = import_xml(content, source=file)
    store = _stored(ctx)
    try:
        store.save_all(templates, replace=replace)
    finally:
        store.store.close()
    click.echo(f"imported {len(templates)} template(s): {', '.join(t.name for t in templates)}")
