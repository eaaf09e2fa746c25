"""HTML sanitising for display (nh3 with an explicit allow-list) and inline-image rendering.

``sanitize_html`` keeps formatting and links and drops everything that can run script, load
styles or embed other documents: no ``svg``, ``math``, ``style``, ``template``, ``noscript``,
``iframe``, ``script``, ``object``, ``embed``, ``form``; no ``on*`` or ``style`` attributes; URLs only
with the schemes http, https, mailto and cid (RELIABILITY.md E1-E3). ``render_inline_images``
turns ``cid:`` references into ``data:`` URIs of the message's own inline parts and never lets the
view load a remote image (E4).
"""

from __future__ import annotations

import base64
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Sequence

from mailconduit._message import Attachment

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "ALLOWED_URL_SCHEMES",
    "PLACEHOLDER_IMAGE",
    "REMOVED_WITH_CONTENT",
    "render_inline_images",
    "sanitize_html",
]

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "caption",
        "center", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em",
        "figcaption", "figure", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
        "kbd", "li", "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "small", "span",
        "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr",
        "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip
"""Tags kept (their attributes filtered); every other tag is removed and its text kept."""

REMOVED_WITH_CONTENT = frozenset(
    {
        "script", "style", "template", "noscript", "iframe", "frame", "frameset", "object", "embed",
        "applet", "svg", "math", "xmp", "noembed", "noframes", "plaintext", "textarea", "select",
        "title", "head", "option", "button", "base", "link", "meta",
    }
)  # fmt: skip
"""Tags removed together with everything inside them."""

_COMMON = {"title", "lang", "dir", "align", "valign"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": _COMMON,
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height", "border"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "width", "summary"},
    "td": {"colspan", "rowspan", "width", "height", "nowrap"},
    "th": {"colspan", "rowspan", "width", "height", "scope", "nowrap"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type", "reversed"},
    "li": {"value"},
    "q": {"cite"},
    "blockquote": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
}
"""Attributes kept per tag (``*``: on every allowed tag); never ``on*`` and never ``style``."""

ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})
"""The only URL schemes left in links and image sources."""

PLACEHOLDER_IMAGE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
"""A 1x1 transparent GIF shown instead of a remote image or a missing inline part."""

_URL_ATTRIBUTES = {"href", "src", "cite"}
_DISPLAY_IMAGE_TYPES = {"image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp", "image/bmp"}


def _invisible(value: str) -> bool:
    """True when a URL holds controls or invisible format characters (zero-width, soft hyphen, bidi)."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value)


def _url_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute in _URL_ATTRIBUTES:
        if _invisible(value):
            return None
        scheme = re.match(r"\s*([A-Za-z][A-Za-z0-9+.\-]*):", value)
        if scheme and scheme.group(1).lower() not in ALLOWED_URL_SCHEMES:
            return None
    return value


def _clean(html: str, attribute_filter: Callable[[str, str, str], str | None]) -> str:
    import nh3

    result: str = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(REMOVED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=attribute_filter,
        url_schemes=set(ALLOWED_URL_SCHEMES),
        strip_comments=True,
        link_rel="noopener noreferrer",
    )
    # CR becomes LF, as an HTML parser's input preprocessing does; this keeps the output idempotent
    return result.replace("\r\n", "\n").replace("\r", "\n")


def sanitize_html(html: str) -> str:
    """Return ``html`` with everything that can run script, style or embed removed; idempotent.

    Example:
        >>> sanitize_html('<p onclick="x()">Hi<script>alert(1)</script></p>')
        '<p>Hi</p>'
    """
    return _clean(html, _url_filter)


def _cid_key(reference: str) -> str:
    return urllib.parse.unquote(reference[4:]).strip().strip("<>").lower()


def render_inline_images(html: str, parts: Sequence[Attachment]) -> str:
    """Sanitise ``html`` and make its images safe to show without any network request.

    ``<img src="cid:...">`` becomes a ``data:`` URI of the matching inline part (PNG, JPEG, GIF,
    WebP or BMP); a missing or non-image part, and every remote (http/https) or other image source,
    becomes ``PLACEHOLDER_IMAGE``. Links are kept; they load nothing until clicked.

    Args:
        html: the message's HTML body (sanitised here; it need not be sanitised before).
        parts: the message's attachments; those with a ``content_id`` can be referenced.
    """
    by_cid = {p.content_id.strip().strip("<>").lower(): p for p in parts if p.content_id}

    def image_filter(tag: str, attribute: str, value: str) -> str | None:
        checked = _url_filter(tag, attribute, value)
        if tag != "img" or attribute != "src":
            return checked
        if checked is None or not checked.strip().lower().startswith("cid:"):
            return PLACEHOLDER_IMAGE
        part = by_cid.get(_cid_key(checked.strip()))
        ctype = part.content_type.lower() if part else ""
        if part is None or ctype not in _DISPLAY_IMAGE_TYPES:
            return PLACEHOLDER_IMAGE
        return f"data:{ctype};base64,{base64.b64encode(part.content).decode('ascii')}"

    return _clean(html, image_filter)
