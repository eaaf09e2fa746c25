"""A message as a self-contained, sandboxed HTML page (RELIABILITY.md E5, the Mailpit pattern).

The outer page carries a strict Content-Security-Policy (``default-src 'none'; img-src data:;
style-src 'unsafe-inline'``), shows the headers escaped, and puts the body in an
``<iframe sandbox>`` without ``allow-scripts`` (nor ``allow-same-origin``) whose ``srcdoc`` holds
the sanitised HTML body with inline images as ``data:`` URIs. Nothing in the page can run script
or load anything from the network; remote images become a placeholder. A message without HTML
shows its text body escaped in a ``<pre>``. Pure: bytes in, a document out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from mailconduit._mime import ParsedMessage, parse_message
from mailconduit._sanitize import render_inline_images

__all__ = ["VIEW_CSP", "body_document", "message_view", "page_around"]

VIEW_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""The policy of the page and of the body's document: no script, no network, data: images only."""

_SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Date", "Subject", "Message-ID")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f4;color:#222}
header{padding:12px 16px;background:#fff;border-bottom:1px solid #ccc}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}
dt{font-weight:600;color:#555}dd{margin:0;overflow-wrap:anywhere}
.note{margin:8px 0 0;color:#8a4b00}
ul{margin:6px 0 0;padding-left:20px}
iframe{display:block;width:100%;height:80vh;border:0;background:#fff}
"""


def _head(title: str, extra_style: str = "") -> str:
    return (
        '<head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{VIEW_CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{extra_style}</style></head>"
    )


def body_document(parsed: ParsedMessage) -> str:
    """The document shown inside the sandbox: sanitised HTML with inline images, else escaped text."""
    if parsed.html is not None:
        content = render_inline_images(parsed.html, parsed.attachments)
    elif parsed.text is not None:
        content = f'<pre style="white-space:pre-wrap;overflow-wrap:anywhere">{html.escape(parsed.text)}</pre>'
    else:
        content = "<p><em>This message has no text or HTML body.</em></p>"
    style = "body{font-family:system-ui,sans-serif;margin:16px;overflow-wrap:anywhere}img{max-width:100%}"
    return f"<!DOCTYPE html><html>{_head('body', style)}<body>{content}</body></html>"


def page_around(
    body_srcdoc: str,
    *,
    title: str,
    headers: Sequence[tuple[str, str]] = (),
    notes: Sequence[str] = (),
    attachments: Sequence[str] = (),
) -> str:
    """The outer page: policy, escaped headers, notes and attachment names, and the sandboxed body.

    Args:
        body_srcdoc: the body's document, placed (attribute-escaped) in the iframe's ``srcdoc``.
        title: the page title (escaped here).
        headers: (name, value) pairs shown above the body (escaped here).
        notes: lines shown under the headers, such as defects (escaped here).
        attachments: descriptions of the attachments (escaped here; nothing links to them).
    """
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in headers)
    note_html = "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    files = ""
    if attachments:
        items = "".join(f"<li>{html.escape(a)}</li>" for a in attachments)
        files = f"<p><strong>Attachments</strong></p><ul>{items}</ul>"
    frame = (
        '<iframe sandbox="" referrerpolicy="no-referrer" title="Message body" '
        f'srcdoc="{html.escape(body_srcdoc, quote=True)}"></iframe>'
    )
    return (
        f"<!DOCTYPE html><html>{_head(title, _STYLE)}<body>"
        f"<header><dl>{rows}</dl>{note_html}{files}</header>{frame}</body></html>\n"
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def message_view(raw: bytes, *, parsed: ParsedMessage | None = None) -> str:
    """Build the sandboxed HTML page of the message ``raw`` (parsed with the budgeted parser).

    Args:
        raw: the message as stored.
        parsed: its parse, when the caller has it already.

    Returns:
        A complete HTML document that loads nothing from the network and runs no script.
    """
    message = parsed if parsed is not None else parse_message(raw)
    headers = [(name, value) for name in _SHOWN_HEADERS if (value := message.header(name)) is not None]
    notes = [f"Defect: {d}" for d in message.defects]
    if message.limit_exceeded:
        notes.insert(0, "The message went past a parsing limit; its body may be incomplete.")
    attachments = [
        f"{a.filename or '(no name)'} ({a.content_type}, {_size(len(a.content))})"
        + (" inline" if a.inline else "")
        for a in message.attachments
    ]
    return page_around(
        body_document(message),
        title=message.subject or "(no subject)",
        headers=headers,
        notes=notes,
        attachments=attachments,
    )
