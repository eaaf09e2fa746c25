"""``mailconduit messages``: read received messages from the store (list, show, raw bytes, attachments, view).

``show --raw`` writes the stored bytes exactly (binary-safe) to stdout or ``--out``;
``--save-attachments DIR`` parses the raw bytes with the budgeted parser and writes each attachment
under a sanitised name inside DIR; ``view`` writes the sandboxed HTML page of ``mailconduit._views``.
Text from a sender shown on a terminal has its control characters escaped.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path
from typing import Any

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json, records
from mailconduit._cli._receive_access import translated_errors

__all__ = ["messages"]


def _printable(value: Any) -> str:
    """``value`` as text with control and invisible format characters escaped (no terminal escapes)."""
    text = "" if value is None else str(value)
    return "".join(
        f"\\x{ord(ch):02x}" if unicodedata.category(ch) in ("Cc", "Cf") and ch != "\t" else ch for ch in text
    )


def _open(ctx: CliContext) -> Any:
    from mailconduit._cli._store_access import open_cli_store

    with translated_errors("opening the store"):
        return open_cli_store(ctx)


def _load(ctx: CliContext, message_id: int) -> tuple[dict[str, Any], list[dict[str, Any]], bytes]:
    """The message row, its attachment rows and its raw bytes; a clear error when there is none."""
    from sqlalchemy import select

    from mailconduit._store._models import Attachment, MessageRow
    from mailconduit._store._repo_messages import raw_bytes

    store = _open(ctx)
    try:
        with store.session(readonly=True) as session:
            row = session.get(MessageRow, message_id)
            raw = raw_bytes(session, message_id) if row is not None else None
            if row is None or raw is None:
                what = "no message" if row is None else "no stored bytes for message"
                raise click.ClickException(
                    f"{what} {message_id} in the store; `mailconduit messages list` shows the ids"
                )
            files = [
                {
                    "position": a.position,
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "content_id": a.content_id,
                    "inline": a.inline,
                    "size": a.size,
                    "sha256": a.sha256,
                }
                for a in session.scalars(
                    select(Attachment)
                    .where(Attachment.message_id == message_id)
                    .order_by(Attachment.position)
                )
            ]
            return _as_dict(row), files, raw
    finally:
        store.close()


def _as_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "direction": str(row.direction),
        "account": row.account,
        "status": str(row.status),
        "folder": row.folder,
        "uidvalidity": row.uidvalidity,
        "uid": row.uid,
        "uidl": row.uidl,
        "message_id": row.header_message_id,
        "subject": row.subject,
        "from": row.from_,
        "date": row.date_header,
        "size": row.size,
        "sha256": row.sha256,
        "defects": list(row.defects or []),
        "annotations": dict(row.annotations or {}),
        "stored_at": row.created_at,
    }


@click.group()
def messages() -> None:
    """Received messages in the store: list them, show one, its raw bytes, attachments and a safe view."""


@messages.command("list")
@click.option("--account", help="Only this account.")
@click.option("--folder", help="Only this folder.")
@click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="At most this many, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_(ctx: CliContext, account: str | None, folder: str | None, limit: int, as_json: bool) -> None:
    """List received messages, newest first."""
    from sqlalchemy import select

    from mailconduit._store._models import Direction, MessageRow

    query = select(MessageRow).where(MessageRow.direction == Direction.INCOMING)
    if account:
        query = query.where(MessageRow.account == account)
    if folder:
        query = query.where(MessageRow.folder == folder)
    store = _open(ctx)
    try:
        with store.session(readonly=True) as session:
            rows = [_as_dict(r) for r in session.scalars(query.order_by(MessageRow.id.desc()).limit(limit))]
    finally:
        store.close()
    if not as_json:
        for row in rows:
            row["defects"] = len(row["defects"])
            for key in ("subject", "from", "date"):
                row[key] = _printable(row[key])
    records(
        rows, ["id", "account", "folder", "from", "subject", "date", "size", "defects"], "Messages", as_json
    )


def _write_raw(raw: bytes, out: Path | None) -> None:
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(raw)
        sys.stdout.buffer.flush()
        return
    out.write_bytes(raw)
    click.echo(f"wrote {len(raw)} bytes to {out}", err=True)


def _save(raw: bytes, directory: Path, *, err: bool) -> list[dict[str, Any]]:
    from mailconduit._cli._attachment_files import save_attachments
    from mailconduit._mime import parse_message

    parsed = parse_message(raw)
    if parsed.limit_exceeded:
        click.echo(
            "warning: the message went past a parsing limit; some attachments may be missing", err=True
        )
    saved = []
    with translated_errors(f"saving attachments to {directory}"):
        try:
            written = save_attachments(parsed.attachments, directory)
        except OSError as exc:
            raise click.ClickException(
                f"cannot save attachments to {directory}: {exc.strerror or exc}"
            ) from None
    for attachment, path in written:
        saved.append({"filename": attachment.filename, "path": str(path), "size": len(attachment.content)})
        click.echo(f"saved {_printable(attachment.filename) or '(no name)'!s} -> {path}", err=err)
    if not written:
        click.echo("the message has no attachments", err=True)
    return saved


def _show_text(info: dict[str, Any], headers: list[tuple[str, str]], files: list[dict[str, Any]]) -> None:
    where = info["folder"] or ""
    key = f"uid {info['uidvalidity']}:{info['uid']}" if info["uid"] is not None else f"uidl {info['uidl']}"
    click.echo(
        f"message {info['id']} ({info['direction']}, {info['status']}) "
        f"of {info['account']} in {where!r}, {key}"
    )
    click.echo(f"size {info['size']} bytes, sha256 {info['sha256']}, stored {info['stored_at']}")
    click.echo("")
    for name, value in headers:
        click.echo(f"{_printable(name)}: {_printable(value)}")
    if info["defects"]:
        click.echo("\ndefects:")
        for defect in info["defects"]:
            click.echo(f"  - {_printable(defect)}")
    if info["annotations"]:
        click.echo("\nannotations:")
        for name, value in sorted(info["annotations"].items()):
            click.echo(f"  {_printable(name)}: {_printable(value)}")
    if files:
        click.echo("\nattachments:")
        for f in files:
            inline = f", inline cid:{_printable(f['content_id'])}" if f["inline"] else ""
            click.echo(
                f"  {f['position']}. {_printable(f['filename']) or '(no name)'} "
                f"({f['content_type']}, {f['size']} bytes{inline})"
            )


@messages.command("show")
@click.argument("message_id", type=int)
@click.option("--raw", is_flag=True, help="Write the original bytes exactly (to stdout, or --out).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="With --raw: write to this file."
)
@click.option(
    "--save-attachments",
    "save_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the attachments into this directory under sanitised names.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show(  # noqa: PLR0917 - one parameter per click option
    ctx: CliContext, message_id: int, raw: bool, out: Path | None, save_dir: Path | None, as_json: bool
) -> None:
    """Show a stored message: where it came from, headers, defects, annotations and attachments."""
    if out is not None and not raw:
        raise click.UsageError("--out goes with --raw (use `messages view --out` for an HTML view)")
    if raw and as_json:
        raise click.UsageError("--raw writes bytes; it takes no --json")
    info, files, data = _load(ctx, message_id)
    if raw:
        _write_raw(data, out)
        if save_dir is not None:
            _save(data, save_dir, err=True)
        return
    from mailconduit._mime import parse_message

    parsed = parse_message(data)
    info["defects"] = list(dict.fromkeys([*info["defects"], *parsed.defects]))
    saved = _save(data, save_dir, err=as_json) if save_dir is not None else None
    if as_json:
        emit_json({**info, "headers": parsed.headers, "attachments": files, "saved": saved})
        return
    _show_text(info, parsed.headers, files)


@messages.command("view")
@click.argument("message_id", type=int)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (default: ./message-ID.html).",
)
@click.pass_obj
def view(ctx: CliContext, message_id: int, out: Path | None) -> None:
    """Write a sandboxed HTML view of a message: no script runs, nothing loads from the network.

    The body sits in an iframe sandbox without scripts under a Content-Security-Policy that allows
    only inline styles and data: images; inline (cid:) images are shown, remote images are not.
    """
    from mailconduit._views import message_view

    _info, _files, data = _load(ctx, message_id)
    target = out or Path(f"message-{message_id}.html")
    target.write_text(message_view(data), encoding="utf-8")
    click.echo(str(target.resolve()))


@messages.command("analyse")
@click.option("--account", help="Only this account's messages.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def analyse_(ctx: CliContext, account: str | None, as_json: bool) -> None:
    """Run the full MIME parse on received messages not parsed yet, within its budget, and record defects.

    Replication stores raw bytes with a cheap scan to keep near the wire's speed; this is the later,
    budgeted step. Each message is parsed once.
    """
    from mailconduit._cli._store_access import open_cli_store
    from mailconduit._replicate import analyse

    store = open_cli_store(ctx)
    try:
        result = analyse(store, account=account)
    finally:
        store.close()
    summary = {
        "parsed": result.parsed,
        "with_defects": result.with_defects,
        "limit_exceeded": result.limit_exceeded,
    }
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"parsed {result.parsed}, with defects {result.with_defects}, over budget {result.limit_exceeded}"
        )
