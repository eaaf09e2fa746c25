"""A linear pre-scan of raw bytes that measures a message's shape before the stdlib parser sees it.

It walks header blocks and boundary lines only (nesting depth, parts, header fields, encoded-words,
longest header line) and counts its work in units (bytes looked at plus items visited), so tests
can prove linear growth without a clock (RELIABILITY.md D3). A message past a limit is not parsed.
"""

from __future__ import annotations

import re

from attrs import define, field

__all__ = ["ParseLimits", "PreScan", "prescan"]

_BLANK_LINE = re.compile(rb"\n\r?\n")
_DASHES = re.compile(rb"(?m)^--")
_CONTINUATION = re.compile(rb"\n[ \t]")
_CONTENT_TYPE = re.compile(rb"(?im)^content-type[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)")
_BOUNDARY = re.compile(rb'(?i)boundary[ \t]*=[ \t]*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))')


@define(frozen=True, kw_only=True)
class ParseLimits:
    """Bounds on what the full parse accepts; past any of them it stops with a ``limit_exceeded`` defect.

    Attributes:
        max_depth: multipart / message nesting depth.
        max_parts: MIME parts in the whole message.
        max_header_fields: header fields in one header block.
        max_encoded_words: RFC 2047 encoded-words in all header blocks together.
        max_header_line: longest physical header line, in bytes.
        cpu_seconds_base, cpu_seconds_per_mb: the worker's CPU budget is base + per_mb x size in MB.
        memory_base_mb, memory_factor: the worker may grow its address space by base MB + factor x size.
    """

    max_depth: int = 50
    max_parts: int = 5000
    max_header_fields: int = 5000
    max_encoded_words: int = 5000
    max_header_line: int = 100_000
    cpu_seconds_base: float = 1.0
    cpu_seconds_per_mb: float = 2.0
    memory_base_mb: int = 64
    memory_factor: float = 3.0

    def cpu_budget(self, size: int) -> float:
        """CPU seconds allowed for a message of ``size`` bytes."""
        return self.cpu_seconds_base + self.cpu_seconds_per_mb * size / 1_000_000

    def memory_budget(self, size: int) -> int:
        """Bytes of address space the worker may add while parsing a message of ``size`` bytes."""
        return int(self.memory_base_mb * 1024 * 1024 + self.memory_factor * size)


@define(kw_only=True)
class PreScan:
    """What the pre-scan measured; ``exceeded`` names every limit that was passed (empty: parse it)."""

    work_units: int = 0
    parts: int = 1
    depth: int = 0
    header_fields: int = 0
    encoded_words: int = 0
    longest_header_line: int = 0
    exceeded: list[str] = field(factory=list)


def _header_block(raw: bytes, pos: int, scan: PreScan, limits: ParseLimits) -> tuple[int, bytes]:
    """Measure the header block at ``pos``; return where its body starts and its Content-Type value."""
    if raw.startswith((b"\r\n", b"\n"), pos):
        return pos + (2 if raw.startswith(b"\r\n", pos) else 1), b""
    match = _BLANK_LINE.search(raw, pos)
    end = match.end() if match else len(raw)
    block = raw[pos:end]
    scan.work_units += len(block)
    lines = block.count(b"\n") + 1
    fields = lines - len(_CONTINUATION.findall(block))
    scan.header_fields += fields
    scan.encoded_words += block.count(b"=?")
    longest = max(map(len, block.split(b"\n")))
    scan.longest_header_line = max(scan.longest_header_line, longest)
    if fields > limits.max_header_fields:
        scan.exceeded.append(
            f"limit_exceeded: {fields} header fields in one block (max {limits.max_header_fields})"
        )
    if longest > limits.max_header_line:
        scan.exceeded.append(f"limit_exceeded: header line of {longest} bytes (max {limits.max_header_line})")
    if scan.encoded_words > limits.max_encoded_words:
        scan.exceeded.append(f"limit_exceeded: over {limits.max_encoded_words} encoded-words in headers")
    ctype = _CONTENT_TYPE.search(block)
    return end, (ctype.group(1) if ctype else b"")


def prescan(raw: bytes, limits: ParseLimits | None = None) -> PreScan:
    """Measure ``raw`` in one linear pass, stopping at the first exceeded limit.

    Args:
        raw: the message as received.
        limits: the bounds to check (``ParseLimits()`` by default).
    """
    limits = limits or ParseLimits()
    scan = PreScan()
    stack: list[bytes | None] = []  # open boundaries; None marks a message/rfc822 level
    pos = 0
    in_headers = True
    while not scan.exceeded:
        if in_headers:
            pos, ctype = _header_block(raw, pos, scan, limits)
            lowered = ctype.lower()
            boundary = _BOUNDARY.search(ctype) if b"multipart/" in lowered else None
            in_headers = False
            if boundary is not None:
                stack.append((boundary.group(1) or boundary.group(2)).strip())
            elif b"message/rfc822" in lowered or b"message/global" in lowered:
                stack.append(None)
                in_headers = True
            scan.depth = max(scan.depth, len(stack))
            if len(stack) > limits.max_depth:
                scan.exceeded.append(f"limit_exceeded: nesting deeper than {limits.max_depth}")
            continue
        dashes = _DASHES.search(raw, pos)
        if dashes is None:
            scan.work_units += len(raw) - pos
            break
        line_end = raw.find(b"\n", dashes.start())
        line_end = len(raw) if line_end < 0 else line_end + 1
        scan.work_units += line_end - pos
        name = raw[dashes.start() + 2 : line_end].rstrip(b" \t\r\n")
        closing = name.endswith(b"--")
        pos = line_end
        for index in range(len(stack) - 1, -1, -1):
            scan.work_units += 1
            if stack[index] is not None and (stack[index] == name or (closing and stack[index] == name[:-2])):
                closing = stack[index] != name
                del stack[index + (0 if closing else 1) :]
                if not closing:
                    scan.parts += 1
                    in_headers = True
                break
        if scan.parts > limits.max_parts:
            scan.exceeded.append(f"limit_exceeded: more than {limits.max_parts} MIME parts")
    return scan
