"""compose(): structure, headers we own, BCC never written, injection refused (C6), round trip (D5)."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailconduit import Address, Attachment, HeaderInjectionError, Message, MessageError
from mailconduit._mime import compose, parse_message
from mailconduit._testing.require import missing_server

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
ALICE = Address("alice@example.org", "Alice")
BOB = Address("bob@example.org")


def names(data: bytes) -> list[str]:
    return list(BytesParser(policy=policy.compat32).parsebytes(data, headersonly=True).keys())


def test_minimal_message_has_exactly_the_expected_headers_and_crlf_only() -> None:
    data = compose(Message(from_=ALICE, to=[BOB], subject="Hi", text="Hello\n"))
    assert names(data) == [
        *("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"),
        *("Content-Type", "Content-Transfer-Encoding"),
    ]
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"Message-ID: <" in data and b"@example.org>" in data
    parsed = parse_message(data, isolate=False)
    assert parsed.text == "Hello\n" and parsed.defects == []


def test_bcc_never_appears_but_stays_a_recipient() -> None:
    message = Message(from_=ALICE, to=[BOB], bcc=[Address("hidden@example.org")], subject="s", text="t")
    data = compose(message)
    assert b"hidden" not in data and b"Bcc" not in data
    assert "hidden@example.org" in [a.addr_spec for a in message.recipients]


def test_given_message_id_date_reply_to_sender_and_custom_headers_are_written() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    data = compose(
        Message(
            from_=ALICE, sender=Address("robot@example.org"), to=[BOB], cc=[Address("c@example.org")],
            reply_to=[Address("r@example.org")], subject="s", text="t", message_id="abc@example.org",
            date=when, headers={"X-Campaign": "spring", "List-Id": "<news.example.org>"},
        )
    )  # fmt: skip
    parsed = parse_message(data, isolate=False)
    assert parsed.message_id == "<abc@example.org>"
    assert parsed.date == when
    assert [a.addr_spec for a in parsed.reply_to] == ["r@example.org"]
    assert parsed.header("Sender") == "robot@example.org"
    assert parsed.header("X-Campaign") == "spring" and parsed.header("List-Id") == "<news.example.org>"
    assert names(data)[:6] == ["From", "Sender", "To", "Cc", "Reply-To", "Subject"]


def test_message_id_domain_is_used_for_generated_ids() -> None:
    data = compose(Message(to=[BOB], text="x"), message_id_domain="mail.example.net")
    assert parse_message(data, isolate=False).message_id.endswith("@mail.example.net>")  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["From", "to", "BCC", "Message-ID", "Content-Type", "MIME-Version", "Date"])
def test_custom_headers_we_own_are_refused(name: str) -> None:
    with pytest.raises(MessageError, match=name):
        compose(Message(to=[BOB], text="x", headers={name: "x"}))


@pytest.mark.parametrize("name", ["X Bad", "X:Bad", "X-\r\nBcc", "", "X-Ü"])
def test_invalid_custom_header_names_are_refused(name: str) -> None:
    with pytest.raises(HeaderInjectionError):
        compose(Message(to=[BOB], text="x", headers={name: "x"}))


def test_html_inline_and_attachments_structure_and_rfc2231_filename() -> None:
    logo = Attachment(
        filename="logo.png",
        content=b"\x89PNG\r\n",
        content_type="image/png",
        inline=True,
        content_id="logo@x",
    )
    report = Attachment(
        filename="résumé — 2026 ünïcödé name that is rather long indeed.pdf",
        content=b"%PDF-1.7\n" * 50,
        content_type="application/pdf",
    )
    data = compose(
        Message(
            from_=ALICE,
            to=[BOB],
            subject="s",
            text="plain",
            html='<img src="cid:logo@x">',
            attachments=[logo, report],
        )
    )
    tree = BytesParser(policy=policy.compat32).parsebytes(data)
    assert [p.get_content_type() for p in tree.walk()] == [
        "multipart/mixed", "multipart/related", "multipart/alternative", "text/plain", "text/html",
        "image/png", "application/pdf",
    ]  # fmt: skip
    assert b"filename*0*=utf-8''" in data
    parsed = parse_message(data, isolate=False)
    assert parsed.text == "plain" and parsed.html == '<img src="cid:logo@x">'
    assert parsed.attachments == [logo, report]


def test_filenames_are_sanitised_of_line_breaks() -> None:
    evil = Attachment(filename="a\r\nContent-Type: text/html\r\n\r\n<script>.txt", content=b"x")
    data = compose(Message(to=[BOB], text="x", attachments=[evil]))
    parsed = parse_message(data, isolate=False)
    assert parsed.attachments[0].filename == "a__Content-Type: text/html____<script>.txt"
    assert parsed.attachments[0].content_type == "application/octet-stream"


INJECTIONS = [
    "\r",
    "\n",
    "\r\n",
    "\x00",
    "\x85",
    "\u2028",
    "\u2029",
    "\rBcc: x@evil.example",
    "\nBcc: x@evil.example",
]


def _variants(payload: str) -> list[tuple[str, Message]]:
    base = {"from_": ALICE, "to": [BOB], "text": "x"}

    def inline(content_id: str) -> Attachment:
        return Attachment(
            filename="i.png", content=b"x", content_type="image/png", inline=True, content_id=content_id
        )

    return [
        ("subject", Message(**base, subject=f"Hi{payload}there")),  # type: ignore[arg-type]
        ("from.display_name", Message(from_=Address("a@example.org", f"Eve{payload}"), to=[BOB], text="x")),
        ("to[0].display_name", Message(to=[Address("b@example.org", f"Bob{payload}x")], text="x")),
        ("to[0].addr_spec", Message(to=[Address(f"b{payload}@example.org")], text="x")),
        ("cc[0].addr_spec", Message(to=[BOB], cc=[Address(f"c@example.org{payload}")], text="x")),
        (
            "reply_to[0].display_name",
            Message(to=[BOB], reply_to=[Address("r@example.org", f"R{payload}")], text="x"),
        ),
        (
            "attachments[0].content_id",
            Message(to=[BOB], text="x", attachments=[inline(content_id=f"id{payload}@x")]),
        ),
        ("headers['X-Custom']", Message(to=[BOB], text="x", headers={"X-Custom": f"v{payload}w"})),
        ("message_id", Message(to=[BOB], text="x", message_id=f"id{payload}@example.org")),
    ]


@pytest.mark.parametrize("payload", INJECTIONS, ids=[repr(p) for p in INJECTIONS])
def test_injection_in_every_field_is_refused_naming_the_field(payload: str) -> None:
    for field, message in _variants(payload):
        with pytest.raises(HeaderInjectionError) as info:
            compose(message)
        assert info.value.field == field, (field, str(info.value))


def test_payloadsallthethings_crlf_list_is_refused_or_safely_encoded() -> None:
    path = CORPORA / "payloadsallthethings" / "crlf" / "crlfinjection.txt"
    if not path.exists():
        missing_server("shared corpora", f"{path} is missing; restore ../shared/corpora next to the repo")
    lines = [line for line in path.read_text("utf-8").splitlines() if line.strip()]
    refused = encoded = 0
    for line in lines:
        for value in (line, urllib.parse.unquote(line), urllib.parse.unquote(urllib.parse.unquote(line))):
            for field, message in _variants(value):
                try:
                    data = compose(message)
                except (HeaderInjectionError, MessageError):
                    refused += 1
                    continue
                encoded += 1
                heads = names(data)
                assert "Set-Cookie" not in heads and "Bcc" not in heads, (field, value)
                assert len(heads) == len(set(h.lower() for h in heads)), heads
    assert len(lines) == 17
    assert refused > 0 and encoded > 0


# --- D5: round trip ---------------------------------------------------------------------------------

_atom = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_+", min_size=1, max_size=12).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
)
_domain = st.sampled_from(["example.org", "mail.example.net", "xn--bcher-kva.de", "sub.example.co.uk"])
_name = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30),
)
_addresses = st.builds(
    lambda a, d, n: Address(f"{a}@{d}", n.strip() or None if n else None), _atom, _domain, _name
)
_body = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=400),
)
_attachment = st.builds(
    lambda name, content, inline, i: Attachment(
        filename=name, content=content, content_type="image/png" if inline else "application/octet-stream",
        inline=inline, content_id=f"part{i}@example.org" if inline else None,
    ),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=80),
    st.binary(max_size=300), st.booleans(), st.integers(0, 10**6),
)  # fmt: skip


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=200),
    from_=_addresses, to=st.lists(_addresses, min_size=1, max_size=4), cc=st.lists(_addresses, max_size=3),
    text=_body, html=_body,
    attachments=st.lists(_attachment, max_size=3, unique_by=lambda a: a.content_id or id(a)),
)  # fmt: skip
def test_round_trip_500_examples(subject, from_, to, cc, text, html, attachments) -> None:  # type: ignore[no-untyped-def]
    message = Message(
        from_=from_, to=to, cc=cc, subject=subject, text=text, html=html, attachments=attachments
    )
    parsed = parse_message(compose(message), isolate=False)
    assert parsed.defects == []
    assert (parsed.subject or "") == subject
    assert parsed.from_ == [from_]
    assert parsed.to == list(to) and parsed.cc == list(cc)
    assert parsed.text == (text if text is not None or html is not None else "")
    assert parsed.html == html
    assert sorted(parsed.attachments, key=repr) == sorted(attachments, key=repr)
