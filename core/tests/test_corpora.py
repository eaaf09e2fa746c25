"""../shared/corpora through scan + budgeted parse (D1) and through the sanitizer (E1, E2)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailconduit._mime import ParseWorker, parse_message, scan_headers
from mailconduit._sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, ALLOWED_URL_SCHEMES, sanitize_html
from mailconduit._testing.require import missing_server

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
CPYTHON_DEFECT_MESSAGES = [f"msg_{n}" for n in (15, 17, 19, 25, 31, 35, 38, 39, 41, 42, 47)]


@pytest.fixture(scope="module")
def corpora() -> Path:
    if not CORPORA.is_dir():
        missing_server(
            "shared corpora", f"{CORPORA} is missing; put ../shared/corpora next to the repository"
        )
    return CORPORA


def explode_mbox(data: bytes) -> list[bytes]:
    """Split an mbox on lines that start with 'From ' and drop those envelope lines."""
    starts = [m.start() for m in re.finditer(rb"(?m)^From ", data)]
    messages = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(data)
        chunk = data[start:end]
        messages.append(chunk[chunk.find(b"\n") + 1 :])
    return messages


def corpus_messages(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted((root / "cpython-test_email" / "data").glob("msg_*.txt")):
        yield path.stem, path.read_bytes()
    for folder in ("messages", "compliance", "partial", "smime"):
        for path in sorted((root / "mimekit" / folder).iterdir()):
            yield f"mimekit/{folder}/{path.name}", path.read_bytes()
    yield "html5sec/test.eml", (root / "html5sec" / "test.eml").read_bytes()
    for path in [
        *sorted((root / "mimekit" / "mbox").iterdir()),
        *sorted((root / "imaptest-mbox" / "mbox").iterdir()),
    ]:
        for i, message in enumerate(explode_mbox(path.read_bytes())):
            yield f"{path.name}#{i}", message


@pytest.mark.timeout(600)
def test_d1_every_corpus_message_scans_and_parses_without_exception(corpora: Path) -> None:
    worker = ParseWorker()
    results = {}
    try:
        for name, raw in corpus_messages(corpora):
            before = hashlib.sha256(raw).hexdigest()
            scan = scan_headers(raw)
            parsed = parse_message(raw, worker=worker)
            assert hashlib.sha256(raw).hexdigest() == before, name
            assert not parsed.limit_exceeded, (name, parsed.defects)
            results[name] = (scan, parsed)
    finally:
        worker.close()
    counts = {
        "cpython": sum(1 for n in results if n.startswith("msg_")),
        "mimekit": sum(1 for n in results if n.startswith("mimekit/")),
        "mbox": sum(1 for n in results if "#" in n),
    }
    # 32 messages + 19 compliance + 7 partial + 1 S/MIME; the mboxes explode into 214 messages
    assert counts == {"cpython": 48, "mimekit": 59, "mbox": 214}, counts
    for name in CPYTHON_DEFECT_MESSAGES:
        assert results[name][1].defects, name
    compliance = [n for n in results if n.startswith("mimekit/compliance/")]
    assert len(compliance) == 19
    assert [n for n in compliance if not results[n][1].defects] == []
    bounces = [
        n for n, (_, p) in results.items() if (p.header("To") or "").startswith("unlisted-recipients:;")
    ]
    assert len(bounces) >= 3 and all(results[n][1].to == [] for n in bounces)


def _vectors(root: Path) -> list[str]:
    vectors: list[str] = []
    html5 = (root / "html5sec" / "vectors.txt").read_text("utf-8", "replace")
    vectors += re.findall(r'<div id="\d+">(.*?)//\["\'`-->\]\]>\]</div>', html5, re.S)
    vectors += [
        v
        for v in (root / "owasp-xss-filter-evasion" / "vectors.txt")
        .read_text("utf-8", "replace")
        .splitlines()
        if v
    ]
    vectors += [
        case["payload"]
        for case in json.loads((root / "dompurify-fixtures" / "expect.json").read_text("utf-8"))
    ]
    for path in sorted((root / "payloadsallthethings" / "xss").glob("*.txt")):
        vectors += [v for v in path.read_text("utf-8", "replace").splitlines() if v.strip()]
    for path in sorted((root / "bleach-tests-data" / "data").glob("*.test")):
        vectors.append(path.read_text("utf-8", "replace").split("\n--\n")[0])
    return vectors


class Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag {tag}")
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ALLOWED_ATTRIBUTES["*"] | {"rel"}
        for name, value in attrs:
            if name.startswith("on") or name == "style" or name not in allowed:
                self.problems.append(f"attribute {name} on {tag}")
            if name in ("href", "src", "cite") and value is not None:
                # what a browser does: strip leading/trailing C0+space, drop tab/newline anywhere
                url = re.sub(r"[\t\n\r]", "", value.strip("".join(map(chr, range(0x21)))))
                scheme = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", url)
                if scheme and scheme.group(1).lower() not in ALLOWED_URL_SCHEMES:
                    self.problems.append(f"scheme {scheme.group(1)} in {name}")

    handle_startendtag = handle_starttag


@pytest.mark.timeout(600)
def test_e1_e2_xss_corpus_leaves_nothing_executable_and_sanitising_is_idempotent(corpora: Path) -> None:
    vectors = _vectors(corpora)
    assert len(vectors) >= 3000, len(vectors)
    failures = []
    for vector in vectors:
        out = sanitize_html(vector)
        audit = Audit()
        audit.feed(out)
        audit.close()
        if audit.problems:
            failures.append((vector[:80], audit.problems))
        if sanitize_html(out) != out:
            failures.append((vector[:80], ["not idempotent"]))
    assert failures == []
