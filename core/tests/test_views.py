"""The sandboxed message view (RELIABILITY.md E5): what the page holds, and headless Chromium proving
that a script put in the body does not run and nothing is requested from the network."""

from __future__ import annotations

import base64
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailconduit._sanitize import PLACEHOLDER_IMAGE
from mailconduit._views import VIEW_CSP, message_view, page_around
from mailconduit.testing import missing_server

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def hostile_message(remote: str = "http://tracker.example/pixel.gif") -> bytes:
    body = (
        '<html><head><script>alert("head")</script></head><body onload="steal()">'
        '<p onclick="steal()" onmouseover="steal()">Hello <b>there</b></p>'
        f'<img src="{remote}" onerror="steal()"><img src="cid:logo@x">'
        '<a href="javascript:steal()">click</a><script>document.write("ran")</script>'
        "<svg><script>alert(2)</script></svg></body></html>"
    )
    return (
        "From: Mallory <mallory@example.test>\r\nTo: you@example.test\r\n"
        "Subject: <script>alert('subject')</script>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/related; boundary="r"\r\n\r\n'
        "--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
        "--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Disposition: inline\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(PNG).decode()}\r\n--r--\r\n"
    ).encode()


class _Page(HTMLParser):
    """Collects the meta tags and iframes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.metas: list[dict[str, str | None]] = []
        self.iframes: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            self.metas.append(dict(attrs))
        elif tag == "iframe":
            self.iframes.append(dict(attrs))


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def csp_of(page: _Page) -> list[str | None]:
    return [
        m.get("content")
        for m in page.metas
        if (m.get("http-equiv") or "").lower() == "content-security-policy"
    ]


def test_view_sandboxes_a_sanitised_body_under_a_strict_policy() -> None:
    view = message_view(hostile_message())
    page = parse_page(view)
    assert csp_of(page) == [VIEW_CSP]
    assert VIEW_CSP == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    (frame,) = page.iframes
    assert frame.get("sandbox") == ""  # present, and grants nothing: no allow-scripts, no allow-same-origin
    assert "allow-" not in view
    body = frame["srcdoc"]
    assert body is not None
    lowered = body.lower()
    assert "<script" not in lowered and "javascript:" not in lowered and "<svg" not in lowered
    assert "onclick" not in lowered and "onerror" not in lowered and "onload" not in lowered
    assert "tracker.example" not in body and "http:" not in body.replace("http-equiv", "")
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in body  # the cid: image, inline
    assert PLACEHOLDER_IMAGE in body  # the remote one, replaced
    assert "Hello <b>there</b>" in body
    assert csp_of(parse_page(body)) == [VIEW_CSP]  # the body's own document carries the policy too
    outside = view.split("<iframe", 1)[0]
    assert "<script" not in outside.lower() and "&lt;script&gt;alert(&#x27;subject&#x27;)" in outside


def test_text_only_message_is_shown_escaped_in_pre() -> None:
    raw = b"From: a@example.test\r\nSubject: text\r\n\r\n<b>not bold</b> & <script>x()</script>\r\n"
    (frame,) = parse_page(message_view(raw)).iframes
    body = frame["srcdoc"] or ""
    assert "<pre" in body and "&lt;b&gt;not bold&lt;/b&gt; &amp; &lt;script&gt;" in body
    assert "<script" not in body


def test_attachment_names_and_defects_are_escaped() -> None:
    raw = (
        b"From: a@example.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="<img src=x onerror=a()>.pdf"'
        b"\r\n\r\n%PDF\r\n--b--\r\n"
    )
    view = message_view(raw)
    assert "&lt;img src=x onerror=a()&gt;.pdf" in view and "<img src=x" not in view


# ---------------------------------------------------------------------- headless Chromium


class _Requests(http.server.BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server on 127.0.0.1 recording every path requested."""
    seen: list[str] = []
    handler = type("Handler", (_Requests,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def chromium_dom(page: Path, profile: Path) -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        missing_server("chromium", "apt-get install chromium")
    args = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def payload(base: str) -> str:
    """An UNSANITISED body: script that would request and change the DOM, and remote loads."""
    return (
        "<!DOCTYPE html><html><head>"
        f'<link rel="stylesheet" href="{base}/css">'
        "</head><body><p>mail body</p>"
        f'<img src="{base}/img">'
        "<script>"
        f"var x = new XMLHttpRequest(); x.open('GET', '{base}/script', false); x.send();"
        "document.documentElement.setAttribute('data-ran', 'yes');"
        "try { parent.document.documentElement.setAttribute('data-pwned', 'yes'); } catch (e) {}"
        "</script>"
        f'<img src="x" onerror="new Image().src=\'{base}/onerror\'">'
        "</body></html>"
    )


def test_chromium_runs_no_script_and_loads_nothing_in_the_view(
    recorder: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, seen = recorder
    view = page_around(payload(base), title="hostile", headers=[("Subject", "hostile")])
    assert "allow-scripts" not in view
    page = tmp_path / "view.html"
    page.write_text(view)
    dom = chromium_dom(page, tmp_path / "profile-view")
    assert "<iframe" in dom and 'data-pwned="yes"' not in dom and 'data-ran="yes"' not in dom
    assert seen == []  # no script ran, no image, stylesheet or handler reached the network

    # controls: the same body without the sandbox and policy does run and request, so the check above
    # can see a script that runs: in a frame that allows scripts, and as a page of its own
    open_frame = view.replace('sandbox=""', 'sandbox="allow-scripts"')
    open_frame = open_frame.replace(f'<meta http-equiv="Content-Security-Policy" content="{VIEW_CSP}">', "")
    assert "Content-Security-Policy" not in open_frame
    control = tmp_path / "control.html"
    control.write_text(open_frame)
    chromium_dom(control, tmp_path / "profile-control")
    assert "/script" in seen and "/img" in seen
    seen.clear()
    bare = tmp_path / "bare.html"
    bare.write_text(payload(base))
    assert 'data-ran="yes"' in chromium_dom(bare, tmp_path / "profile-bare")
    assert "/script" in seen


def test_chromium_shows_the_real_view_of_a_hostile_message(
    recorder: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, seen = recorder
    page = tmp_path / "message.html"
    page.write_text(message_view(hostile_message(remote=f"{base}/remote.gif")))
    dom = chromium_dom(page, tmp_path / "profile")
    assert "<iframe" in dom and "<title>&lt;script&gt;alert('subject')&lt;/script&gt;</title>" in dom
    assert seen == []
