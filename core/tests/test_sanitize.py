"""sanitize_html and render_inline_images: allow-list (E3), scheme tricks, inline images (E4), fuzz (D4)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailconduit import Attachment
from mailconduit._sanitize import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    ALLOWED_URL_SCHEMES,
    PLACEHOLDER_IMAGE,
    REMOVED_WITH_CONTENT,
    render_inline_images,
    sanitize_html,
)


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = Collector()
    collector.feed(html)
    collector.close()
    return collector.tags


def test_e3_policy_excludes_script_capable_and_raw_text_elements() -> None:
    banned = {
        *("svg", "math", "style", "template", "noscript", "iframe", "script", "object", "embed", "form"),
        *(
            "xmp",
            "noembed",
            "noframes",
            "plaintext",
            "textarea",
            "title",
            "frame",
            "frameset",
            "base",
            "link",
        ),
        "meta",
    }
    assert not banned & ALLOWED_TAGS
    assert not REMOVED_WITH_CONTENT & ALLOWED_TAGS
    assert ALLOWED_URL_SCHEMES.issubset({"http", "https", "mailto", "cid"})
    for names in ALLOWED_ATTRIBUTES.values():
        assert not any(
            n.startswith("on") or n in ("style", "srcset", "formaction", "action", "background")
            for n in names
        )


TRICKS = [
    '<a href="java\u200bscript:alert(1)">x</a>',
    '<a href="java\u00adscript:alert(1)">x</a>',
    '<a href="\x0ejavascript:alert(1)">x</a>',
    '<a href="&#x0e;javascript:alert(1)">x</a>',
    '<a href="\u200bjavascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    '<a href="java\u2060script:alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<img src="\ufeffjavascript:alert(1)">',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="https://example.org/\u202eevil">x</a>',
]


@pytest.mark.parametrize("vector", TRICKS)
def test_e3_zero_width_soft_hyphen_and_control_scheme_tricks_leave_no_url(vector: str) -> None:
    out = sanitize_html(vector)
    for _, attrs in elements(out):
        assert not any(name in ("href", "src") for name, _ in attrs), out


def test_allowed_markup_survives() -> None:
    html = (
        '<p title="t">Hi <b>there</b> <a href="https://example.org/x?a=1">link</a> '
        '<a href="mailto:a@example.org">m</a></p>'
    )
    out = sanitize_html(html)
    assert '<a href="https://example.org/x?a=1" rel="noopener noreferrer">link</a>' in out
    assert "<b>there</b>" in out and 'href="mailto:a@example.org"' in out


def test_dangerous_content_is_removed_with_its_text() -> None:
    out = sanitize_html("<p>keep</p><style>body{}</style><script>alert(1)</script><svg><text>x</text></svg>")
    assert out == "<p>keep</p>"


PNG = Attachment(
    filename="logo.png",
    content=b"\x89PNG\r\n\x1a\n",
    content_type="image/png",
    inline=True,
    content_id="logo@example.org",
)
SVG = Attachment(
    filename="x.svg",
    content=b"<svg/>",
    content_type="image/svg+xml",
    inline=True,
    content_id="svg@example.org",
)


def test_e4_cid_becomes_data_uri_missing_becomes_placeholder_and_remote_is_never_loaded() -> None:
    html = (
        '<img src="cid:logo@example.org"><img src="cid:%3Clogo@example.org%3E">'
        '<img src="cid:gone@example.org">'
        '<img src="https://tracker.example/p.gif"><img src="http://x/y.png"><img src="cid:svg@example.org">'
        '<img src="//cdn.example/x.png"><img src="relative.png">'
    )
    srcs = [
        dict(attrs)["src"] for tag, attrs in elements(render_inline_images(html, [PNG, SVG])) if tag == "img"
    ]
    assert srcs[0] == srcs[1] == "data:image/png;base64,iVBORw0KGgo="
    assert srcs[2:] == [PLACEHOLDER_IMAGE] * 6


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<img src=",
                "cid:a",
                "cid:b",
                "http://x/",
                "'",
                '"',
                ">",
                " ",
                "<a href=",
                "<svg>",
                "<script>",
                "style=",
                "onerror=",
                "</",
            ]
        )
        | st.text(max_size=5),
        max_size=30,
    )
)
def test_e4_rendered_view_never_keeps_a_remote_image_1000_examples(chunks: list[str]) -> None:
    parts = [Attachment(filename="a", content=b"A", content_type="image/gif", inline=True, content_id="a")]
    for tag, attrs in elements(render_inline_images("".join(chunks), parts)):
        if tag == "img":
            src = dict(attrs).get("src")
            assert src is None or src.startswith("data:image/"), src


@settings(max_examples=3000, deadline=None)
@given(
    st.text(max_size=300)
    | st.lists(
        st.sampled_from(
            [
                "<",
                ">",
                "a",
                "svg",
                "math",
                "style",
                "script",
                "!--",
                "-->",
                "=",
                '"',
                "'",
                "/",
                "href",
                "javascript:",
                "on",
                "&#",
                "x",
                " ",
                "\x00",
                "<![CDATA[",
                "]]>",
                "noscript",
                "template",
                "title",
                "textarea",
            ]
        ),
        max_size=60,
    ).map("".join)
)
def test_d4_e2_sanitizer_fuzz_3000_examples_idempotent_and_clean(html: str) -> None:
    out = sanitize_html(html)
    assert sanitize_html(out) == out
    for tag, attrs in elements(out):
        assert tag in ALLOWED_TAGS
        assert not any(name.startswith("on") or name == "style" for name, _ in attrs)


@pytest.mark.long
@pytest.mark.timeout(14_400)
@settings(max_examples=1_000_000, deadline=None)
@given(st.text(max_size=500))
def test_d4_sanitizer_fuzz_1m_examples(html: str) -> None:
    out = sanitize_html(html)
    assert sanitize_html(out) == out
