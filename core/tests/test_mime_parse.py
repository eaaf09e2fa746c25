"""The budgeted full parse: D2 adversarial generators, D3 linear work, D4 fuzzing, fact 4 headers."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailconduit._mime import ParseLimits, ParseWorker, parse_message, prescan

# --- generators (RELIABILITY.md D2) -----------------------------------------------------------------


def nested(depth: int) -> bytes:
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth)
    )
    tail = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nx" + tail


def flat_parts(count: int) -> bytes:
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(count))
    return b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + parts + b"--B--\r\n"


def encoded_words(count: int) -> bytes:
    return b"Subject: " + b"\r\n ".join([b"=?utf-8?q?=C3=A4?="] * count) + b"\r\n\r\nbody\r\n"


def many_headers(count: int) -> bytes:
    return b"Subject: many\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(count)) + b"\r\nbody\r\n"


def long_header_line(size: int) -> bytes:
    return b"Subject: " + b"a" * size + b"\r\n\r\nbody\r\n"


def nul_bytes(size: int) -> bytes:
    return b"Subject: n\x00ul\r\nX-N: \x00\r\n\r\n" + b"\x00a" * (size // 2)


def base64_line(size: int) -> bytes:
    head = (
        b"Subject: b64\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    return head + base64.b64encode(b"\xab" * (size * 3 // 4)) + b"\r\n"


def invalid_base64(size: int) -> bytes:
    head = b"Subject: bad\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    return head + b"!!@@##$$%%^^" * (size // 12) + b"\r\n"


def unknown_charsets(count: int) -> bytes:
    parts = b"".join(
        b"--B\r\nContent-Type: text/plain; charset=x-nope-%d\r\n\r\n\xe9t\xe9\r\n" % i for i in range(count)
    )
    subject = b" ".join(b"=?x-bogus-%d?q?caf=E9?=" % i for i in range(min(count, 50)))
    return (
        b"Subject: "
        + subject
        + b"\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        + parts
        + b"--B--\r\n"
    )


def rfc2231_continuations(count: int) -> bytes:
    params = b";\r\n".join(b" filename*%d*=%%61" % i for i in range(count))
    return (
        b"Subject: 2231\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n"
        + params
        + b"\r\n\r\nx\r\n"
    )


# (generator, full size from D2, default-run size)
GENERATORS: dict[str, tuple[Callable[[int], bytes], int, int]] = {
    "nesting": (nested, 10_000, 10_000),
    "parts": (flat_parts, 100_000, 100_000),
    "encoded_words": (encoded_words, 20_000, 20_000),
    "header_fields": (many_headers, 100_000, 100_000),
    "header_line": (long_header_line, 1_000_000, 1_000_000),
    "nul_bytes": (nul_bytes, 1_000_000, 1_000_000),
    "base64_line": (base64_line, 100_000_000, 5_000_000),
    "invalid_base64": (invalid_base64, 1_000_000, 1_000_000),
    "unknown_charsets": (unknown_charsets, 1_000, 1_000),
    "rfc2231": (rfc2231_continuations, 10_000, 10_000),
}


@pytest.fixture(scope="module")
def worker() -> Iterator[ParseWorker]:
    w = ParseWorker()
    yield w
    w.close()


def check_budget(name: str, raw: bytes, worker: ParseWorker) -> None:
    limits = ParseLimits()
    parsed = parse_message(raw, limits=limits, worker=worker)
    assert not any("RecursionError" in d for d in parsed.defects), parsed.defects
    if parsed.limit_exceeded:
        assert parsed.defects
    else:
        # parsed in the worker: its measured CPU is within the budget the rlimit enforced
        assert parsed.cpu_seconds <= limits.cpu_budget(len(raw)), (name, parsed.cpu_seconds)
    assert parsed.subject is not None  # the cheap scan still names the message


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(GENERATORS))
def test_d2_generator_is_parsed_or_stopped_within_budget(name: str, worker: ParseWorker) -> None:
    generator, _, size = GENERATORS[name]
    check_budget(name, generator(size), worker)


@pytest.mark.long
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", list(GENERATORS))
def test_d2_generator_full_size(name: str, worker: ParseWorker) -> None:
    generator, size, _ = GENERATORS[name]
    check_budget(name, generator(size), worker)


def test_expected_outcomes_for_the_hostile_shapes(worker: ParseWorker) -> None:
    stopped = {n for n in ("nesting", "parts", "encoded_words", "header_fields", "header_line")}
    for name in stopped:
        generator, _, size = GENERATORS[name]
        parsed = parse_message(generator(size), worker=worker)
        assert parsed.limit_exceeded, name
        assert parsed.cpu_seconds == 0.0  # not parsed at all: the pre-scan stopped it
    parsed = parse_message(unknown_charsets(20), worker=worker)
    assert not parsed.limit_exceeded
    assert any("unknown charset" in d for d in parsed.defects)
    parsed = parse_message(rfc2231_continuations(2000), worker=worker)
    assert parsed.attachments[0].filename == "a" * 2000
    parsed = parse_message(nul_bytes(1000), worker=worker)
    assert any("NUL" in d for d in parsed.defects)


def test_memory_budget_stops_the_parse_with_a_defect() -> None:
    worker = ParseWorker()
    try:
        tight = ParseLimits(memory_base_mb=1, memory_factor=0.0)
        parsed = parse_message(base64_line(20_000_000), limits=tight, worker=worker)
        assert any("memory budget" in d for d in parsed.defects), parsed.defects
        assert parse_message(b"Subject: after\r\n\r\nok", worker=worker).text == "ok"  # worker restarted
    finally:
        worker.close()


@pytest.mark.timeout(120)
def test_cpu_budget_ends_the_worker_with_a_defect() -> None:
    worker = ParseWorker()
    try:
        tight = ParseLimits(
            cpu_seconds_base=0.0, cpu_seconds_per_mb=0.0, max_parts=10**7, max_header_fields=10**7
        )
        parsed = parse_message(flat_parts(300_000), limits=tight, worker=worker)
        assert any("CPU budget" in d for d in parsed.defects), parsed.defects
        assert parse_message(b"Subject: after\r\n\r\nok", worker=worker).text == "ok"
    finally:
        worker.close()


def test_unlisted_recipients_group_does_not_crash() -> None:
    raw = (
        b"From: MAILER-DAEMON@example.org\r\nTo: unlisted-recipients:; (no To-header on input)\r\n"
        b"Subject: bounce\r\n\r\nx\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.to == [] and parsed.subject == "bounce"
    assert parsed.header("To") == "unlisted-recipients:; (no To-header on input)"


# --- D3: work units grow linearly -------------------------------------------------------------------

UNLIMITED = ParseLimits(
    max_depth=10**9, max_parts=10**9, max_header_fields=10**9, max_encoded_words=10**9, max_header_line=10**12
)


def r_squared(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return 1.0 if syy == 0 else sxy * sxy / (sxx * syy)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_d3_prescan_work_is_linear_in_size(name: str) -> None:
    generator, _, size = GENERATORS[name]
    steps = [max(1, size * k // 40) for k in (1, 2, 3, 4, 6, 8)]
    units = [float(prescan(generator(s), UNLIMITED).work_units) for s in steps]
    sizes = [float(len(generator(s))) for s in steps]
    assert r_squared(sizes, units) > 0.98, (name, sizes, units)
    assert all(u <= 2 * sz + 10 for u, sz in zip(units, sizes, strict=True))  # at most a constant per byte


# --- D4: fuzzing --------------------------------------------------------------------------------------

_mime_bits = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=B\r\n", b"--B\r\n", b"--B--\r\n", b"\r\n", b"\n",
        b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Subject: =?utf-8?q?a=C3?= =?x?b?!!?=\r\n", b"To: unlisted-recipients:;\r\n", b"From: a@b)<c@d>\r\n",
        b"Content-Type: message/rfc822\r\n", b"Content-Disposition: attachment; filename*0*=utf-8''%FF\r\n",
        b"\x00", b"\xff\xfe", b"=\r\n", b"Content-ID: <x>\r\n", b"Content-Type: text/html; charset=bogus\r\n",
    ]
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.one_of(_mime_bits, st.binary(max_size=40)), max_size=40))
def test_d4_parse_never_raises_2000_examples(chunks: list[bytes]) -> None:
    raw = b"".join(chunks)
    parsed = parse_message(raw, isolate=False)
    assert isinstance(parsed.defects, list)


@pytest.mark.long
@pytest.mark.timeout(14_400)
@settings(max_examples=1_000_000, deadline=None)
@given(st.lists(st.one_of(_mime_bits, st.binary(max_size=40)), max_size=60))
def test_d4_parse_never_raises_1m_examples(chunks: list[bytes]) -> None:
    parse_message(b"".join(chunks), isolate=False)
