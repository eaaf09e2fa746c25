"""The structure survey replication runs instead of the full parse: same limits, same attachments."""

from __future__ import annotations

import base64
import hashlib

from mailconduit._mime import ParseLimits, parse_message, prescan
from mailconduit._replicate._survey import survey


def _multipart(parts: list[bytes], ctype: str = "multipart/mixed", boundary: str = "b1") -> bytes:
    head = "From: a@example.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
    head += f'Content-Type: {ctype}; boundary="{boundary}"\r\n\r\n'
    body = b"".join(f"--{boundary}\r\n".encode() + p + b"\r\n" for p in parts)
    return head.encode() + body + f"--{boundary}--\r\n".encode()


def _reference(raw: bytes) -> list[tuple[str, str, str | None, bool, int, str]]:
    parsed = parse_message(raw, isolate=False)
    return [
        (
            a.filename,
            a.content_type,
            a.content_id,
            a.inline,
            len(a.content),
            hashlib.sha256(a.content).hexdigest(),
        )
        for a in parsed.attachments
    ]


def _surveyed(raw: bytes) -> list[tuple[str, str, str | None, bool, int, str]]:
    return [
        (a.filename, a.content_type, a.content_id, a.inline, a.size, a.sha256)
        for a in survey(raw).attachments
    ]


def test_attachments_match_the_full_parse() -> None:
    blob = bytes(range(256)) * 9000  # over one decoding piece
    encoded = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    inner = _multipart(
        [
            b"Content-Type: image/png\r\nContent-ID: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(b"png").strip(),
            b"Content-Type: text/html\r\n\r\n<p>hi</p>",
        ],
        "multipart/related",
        "b2",
    ).split(b"\r\n\r\n", 1)[1]
    raw = _multipart(
        [
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            b"Gr\xc3\xbc\xc3\x9fe",
            b'Content-Type: multipart/related; boundary="b2"\r\n\r\n' + inner,
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename*=utf-8''na%C3%AFve.bin\r\n\r\n" + encoded,
            b'Content-Type: text/plain; name="=?utf-8?q?caf=C3=A9.txt?="\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak=3D",
            b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n",
        ]
    )
    got, reference = _surveyed(raw), _reference(raw)
    assert got[:-1] == reference[:-1]
    assert [a[0] for a in got] == ["", "naïve.bin", "café.txt", "message.eml"]
    assert got[1][4] == len(blob) and got[1][5] == hashlib.sha256(blob).hexdigest()
    # an embedded message is described by its bytes as received (the full parse re-serialises it)
    embedded = b"Subject: inner\r\n\r\nbody\r\n"
    assert got[-1][:4] == reference[-1][:4]
    assert got[-1][4:] == (len(embedded), hashlib.sha256(embedded).hexdigest())


def test_single_part_text_has_no_attachments_and_no_defects() -> None:
    raw = b"From: a@example.test\r\nSubject: hello\r\n\r\nbody\r\n"
    assert survey(raw).attachments == [] and survey(raw).defects == []


def test_dash_lines_outside_any_open_boundary_are_body_text() -> None:
    """A single part's body and a multipart's epilogue may hold ``--`` lines (signatures, even the
    boundary again): they end no part, as in the full parse."""
    single = b"From: a@example.test\r\nSubject: s\r\n\r\nhello\r\n-- \r\n--b1\r\n--b1--\r\nBob\r\n"
    assert survey(single).attachments == [] and survey(single).defects == []
    pdf = b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF"
    raw = _multipart([b"Content-Type: text/plain\r\n\r\nhi", pdf])
    raw += b"--b1\r\nContent-Type: image/png; name=late.png\r\n\r\nxx\r\n--b1--\r\n"  # in the epilogue
    assert _surveyed(raw) == _reference(raw)
    assert [a[0] for a in _surveyed(raw)] == ["a.pdf"]


def test_limits_are_the_prescans() -> None:
    """RELIABILITY.md A5: a poison message is stopped by the limits, with the pre-scan's defect."""
    poison = b"Subject: " + b" ".join([b"=?utf-8?q?caf=C3=A9?="] * 20_000) + b"\r\n\r\nbody\r\n"
    deep = b"".join(
        f'Content-Type: multipart/mixed; boundary="d{n}"\r\n\r\n--d{n}\r\n'.encode() for n in range(80)
    )
    many = _multipart([b"Content-Type: text/plain\r\n\r\nx"] * 6000)
    limits = ParseLimits()
    for raw in (poison, deep, many):
        found = survey(raw, limits)
        assert found.defects and found.defects == prescan(raw, limits).exceeded
        assert found.attachments == []


def test_boundaries_that_share_a_prefix_or_close_an_unclosed_inner_part_split_as_in_the_full_parse() -> None:
    """Lines are matched against every open boundary, innermost first, as the full parse does."""
    pdf = b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF-1"
    png = (
        b"Content-Type: image/png; name=b.png\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"\x89PNG" * 500).replace(b"\n", b"\r\n")
    )
    inner = (
        b'Content-Type: multipart/mixed; boundary="abc"\r\n\r\n'
        b"--abc\r\n" + pdf + b"\r\n--abcd\r\n"  # not a boundary: part of the pdf's body
        b"--ab-x\r\n--abc \r\n" + png + b"\r\n"  # "--abc " (trailing space) is a boundary line
    )  # never closed: the outer boundary ends it
    zip_part = b"Content-Type: application/zip; name=c.zip\r\n\r\nPK\x03\x04"
    raw = _multipart([inner, zip_part], boundary="ab")
    assert _surveyed(raw) == _reference(raw)
    assert [a[0] for a in _surveyed(raw)] == ["a.pdf", "b.png", "c.zip"]


def test_base64_with_stray_characters_is_measured_as_the_full_parse_decodes_it() -> None:
    """Line breaks, tabs and characters outside the alphabet are skipped, in one piece or several."""
    small = base64.encodebytes(b"small attachment " * 40).replace(b"\n", b"\r\n")
    small = small[:30] + b"\t!*" + small[30:]
    big = base64.encodebytes(bytes(range(256)) * 6000).replace(b"\n", b" \r\n")  # over one piece
    raw = _multipart(
        [
            b"Content-Type: text/plain\r\n\r\nhi",
            b"Content-Type: application/octet-stream; name=s.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + small,
            b"Content-Type: application/octet-stream; name=b.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + big,
        ]
    )
    assert _surveyed(raw) == _reference(raw)
    assert [a[4] for a in _surveyed(raw)] == [len(b"small attachment " * 40), 256 * 6000]
