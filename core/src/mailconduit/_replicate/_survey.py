"""The budgeted structure survey replication runs on every message instead of the full MIME parse.

One linear pass over the raw bytes, with the pre-scan's limits (``ParseLimits``: nesting depth,
parts, header fields, encoded-words, header line length) and the same ``limit_exceeded`` defects,
that also finds the leaf parts: each part's small header block is read with the stdlib header
parser, its body is decoded with ``binascii`` in pieces and only its size and SHA-256 are kept.
That is what the store records about attachments (their bytes are extracted from the raw message
on demand), at C speed and without holding a decoded copy: the stdlib's full parse costs about
24 ms per MB (PERFORMANCE.md) and stays on demand (``parse_message``), as DESIGN.md's raw-first
ingest asks. Attachments are classified as ``_mime._extract`` does.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from email import message_from_bytes, policy
from email.message import Message as StdMessage
from email.utils import collapse_rfc2231_value

from attrs import define, field

from mailconduit._mime import ParseLimits
from mailconduit._mime._charsets import decode_encoded_words

__all__ = ["AttachmentInfo", "Survey", "survey"]

_BLANK_LINE = re.compile(rb"\n\r?\n")
_CONTINUATION = re.compile(rb"\n[ \t]")
_CONTENT_TYPE = re.compile(rb"(?im)^content-type[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)")
_BOUNDARY = re.compile(rb'(?i)boundary[ \t]*=[ \t]*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))')
_PIECE = 1 << 20
# A header block the stdlib reads as exactly its lines: every line a field (a name of printable
# characters other than ":" right before the colon) or a continuation, then the blank line.
_CLEAN_BLOCK = re.compile(rb"(?:[!-9;-~]+:[^\n]*\n|[ \t][^\n]*\n)*(?:\r?\n)?")
_BODY_TYPES = frozenset((b"text/plain", b"text/html"))


@define(frozen=True, kw_only=True)
class AttachmentInfo:
    """What the store records about one attachment (the bytes stay in the raw message)."""

    filename: str
    content_type: str
    content_id: str | None
    inline: bool
    size: int
    sha256: str


@define(kw_only=True)
class Survey:
    """The outcome: ``defects`` (``limit_exceeded: ...`` when a limit stopped it) and the attachments."""

    defects: list[str] = field(factory=list)
    attachments: list[AttachmentInfo] = field(factory=list)


@define(kw_only=True)
class _Level:
    boundary: bytes | None  # None: a message/rfc822 level
    related: bool = False
    start: int = 0  # message/rfc822: where the embedded message starts
    header: bytes = b""


@define(kw_only=True)
class _Walk:
    raw: bytes
    limits: ParseLimits
    fields: int = 0
    words: int = 0
    parts: int = 1
    depth: int = 0
    exceeded: list[str] = field(factory=list)
    leaves: list[tuple[bytes, int, int, bool]] = field(factory=list)  # header, start, end, related

    def header_block(self, pos: int) -> tuple[int, bytes]:
        raw, limits = self.raw, self.limits
        if raw.startswith((b"\r\n", b"\n"), pos):
            return pos + (2 if raw.startswith(b"\r\n", pos) else 1), b""
        match = _BLANK_LINE.search(raw, pos)
        end = match.end() if match else len(raw)
        block = raw[pos:end]
        fields = block.count(b"\n") + 1 - len(_CONTINUATION.findall(block))
        self.fields += fields
        self.words += block.count(b"=?")
        longest = max(map(len, block.split(b"\n")))
        if fields > limits.max_header_fields:
            self.exceeded.append(
                f"limit_exceeded: {fields} header fields in one block (max {limits.max_header_fields})"
            )
        if longest > limits.max_header_line:
            self.exceeded.append(
                f"limit_exceeded: header line of {longest} bytes (max {limits.max_header_line})"
            )
        if self.words > limits.max_encoded_words:
            self.exceeded.append(f"limit_exceeded: over {limits.max_encoded_words} encoded-words in headers")
        return end, block


def _next_line_of(raw: bytes, pos: int, boundary: bytes) -> int:
    """Where the next line starting with ``--boundary`` begins at or after ``pos`` (-1: none)."""
    dashes = b"--" + boundary
    if raw.startswith(dashes, pos) and (pos == 0 or raw[pos - 1] == 0x0A):
        return pos
    found = raw.find(b"\n" + dashes, pos)
    return found + 1 if found >= 0 else -1


def _next_candidate(raw: bytes, pos: int, stack: list[_Level], ahead: dict[bytes, int]) -> int:
    """Where the next line that may close a part begins (-1: none).

    That is a line starting with ``--`` and an open boundary. Other ``--`` lines end nothing, so
    they are skipped; searching for the whole
    boundary skips through base64 bodies several times faster than searching for ``--``. ``ahead``
    remembers each boundary's next line, so an outer boundary is not searched for again and again.
    """
    best = -1
    for level in stack:
        if level.boundary is None:
            continue
        at = ahead.get(level.boundary)
        if at is None or 0 <= at < pos:
            at = ahead[level.boundary] = _next_line_of(raw, pos, level.boundary)
        if at >= 0 and (best < 0 or at < best):
            best = at
    return best


def _body_end(raw: bytes, line_start: int) -> int:
    """The end of a part's body: the line break before its boundary line belongs to the boundary."""
    if raw.startswith(b"\r\n", line_start - 2):
        return line_start - 2
    return line_start - 1 if line_start > 0 and raw[line_start - 1] == 0x0A else line_start


def _open_part(
    walk: _Walk, stack: list[_Level], pos: int
) -> tuple[int, bool, tuple[bytes, int, bool] | None]:
    """Read the header block at ``pos``: returns where its body starts, whether headers follow, its leaf."""
    raw = walk.raw
    start = pos
    pos, block = walk.header_block(pos)
    found = _CONTENT_TYPE.search(block)
    ctype = (found.group(1) if found else b"").lower()
    boundary = _BOUNDARY.search(found.group(1)) if found and b"multipart/" in ctype else None
    related = bool(stack) and stack[-1].related
    leaf = None
    more = False
    if boundary is not None:
        name = (boundary.group(1) or boundary.group(2)).strip()
        stack.append(_Level(boundary=name, related=b"multipart/related" in ctype))
    elif b"message/rfc822" in ctype or b"message/global" in ctype:
        stack.append(_Level(boundary=None, start=pos, header=block))
        more = True
    elif not any(level.boundary is None for level in stack):
        leaf = (raw[start:pos], pos, related)
    walk.depth = max(walk.depth, len(stack))
    if len(stack) > walk.limits.max_depth:
        walk.exceeded.append(f"limit_exceeded: nesting deeper than {walk.limits.max_depth}")
    return pos, more, leaf


def _walk(raw: bytes, limits: ParseLimits) -> _Walk:
    """Walk header blocks and boundary lines once, as ``_mime.prescan`` does, collecting the leaves."""
    walk = _Walk(raw=raw, limits=limits)
    stack: list[_Level] = []
    leaf: tuple[bytes, int, bool] | None = None  # header, body start, in multipart/related
    pos = 0
    in_headers = True
    ahead: dict[bytes, int] = {}
    while not walk.exceeded:
        if in_headers:
            pos, in_headers, leaf = _open_part(walk, stack, pos)
            continue
        line = _next_candidate(raw, pos, stack, ahead)
        if line < 0:  # no open boundary (a single part's body) or none of them comes again
            break
        line_end = raw.find(b"\n", line)
        line_end = len(raw) if line_end < 0 else line_end + 1
        name = raw[line + 2 : line_end].rstrip(b" \t\r\n")
        closing = name.endswith(b"--")
        pos = line_end
        for index in range(len(stack) - 1, -1, -1):
            wanted = stack[index].boundary
            if wanted is not None and (wanted == name or (closing and wanted == name[:-2])):
                closing = wanted != name
                cut = index + (0 if closing else 1)
                _finish(walk, stack[cut:], leaf, _body_end(raw, line))
                leaf = None
                del stack[cut:]
                if not closing:
                    walk.parts += 1
                    in_headers = True
                break
        if walk.parts > limits.max_parts:
            walk.exceeded.append(f"limit_exceeded: more than {limits.max_parts} MIME parts")
    if not walk.exceeded:
        _finish(walk, stack, leaf, len(raw))
    return walk


def _finish(walk: _Walk, closed: list[_Level], leaf: tuple[bytes, int, bool] | None, end: int) -> None:
    """Record the leaf part and the embedded messages that end at ``end``."""
    if leaf is not None:
        walk.leaves.append((leaf[0], leaf[1], end, leaf[2]))
    outer = next((level for level in closed if level.boundary is None), None)
    if outer is not None:
        walk.leaves.append((outer.header, outer.start, end, False))


def _text(value: object) -> str:
    return str(value).replace("\r", "").replace("\n", "")


def _filename(part: StdMessage, defects: list[str]) -> str | None:
    value = part.get_param("filename", None, "content-disposition")
    if value is None:
        value = part.get_param("name", None, "content-type")
    if value is None:
        return None
    name = _text(collapse_rfc2231_value(value))
    return decode_encoded_words(name, defects) if "=?" in name else name


def _digest(raw: bytes, start: int, end: int, encoding: str) -> tuple[int, str]:
    """Size and SHA-256 of a body once decoded, read in pieces (no decoded copy is held)."""
    view = memoryview(raw)[start:end]
    digest = hashlib.sha256()
    size = 0
    if encoding == "base64" and len(view) <= _PIECE:
        # one piece: the decoder skips the line breaks itself, as it skips what translate() removes
        try:
            data = binascii.a2b_base64(view)
        except binascii.Error:  # bad padding: the stdlib's decoder gives up the same way
            data = b""
        digest.update(data)
        return len(data), digest.hexdigest()
    if encoding == "base64":
        carry = b""
        pos = 0
        while pos < len(view):
            cut = raw.find(b"\n", start + pos + _PIECE, end)
            stop = len(view) if cut < 0 else cut + 1 - start
            text = carry + bytes(view[pos:stop]).translate(None, b"\r\n\t ")
            whole = len(text) - len(text) % 4 if stop < len(view) else len(text)
            carry = text[whole:]
            try:
                piece = binascii.a2b_base64(text[:whole])
            except binascii.Error:  # bad padding: the stdlib's decoder gives up the same way
                piece = b""
            digest.update(piece)
            size += len(piece)
            pos = stop
        return size, digest.hexdigest()
    data = bytes(view)
    if encoding == "quoted-printable":
        data = binascii.a2b_qp(data)
    digest.update(data)
    return len(data), digest.hexdigest()


def _plain_body_type(header: bytes) -> str | None:
    """``text/plain`` or ``text/html`` when the stdlib would read the block as that body part, else None.

    The fast path for the common leaf (the text of the message): a clean block with no
    Content-Disposition and no ``name`` parameter, whose first Content-Type is plain ASCII
    ``text/plain`` or ``text/html``, is what ``message_from_bytes`` reads as a body part without a
    filename. Anything else (None) goes through the stdlib parser.
    """
    lowered = header.lower()
    if b"content-disposition" in lowered or not _CLEAN_BLOCK.fullmatch(header):
        return None
    found = _CONTENT_TYPE.search(header)
    if found is None:
        return "text/plain"  # the stdlib's default
    value = found.group(1)
    if not value.isascii() or b"name" in value.lower():
        return None
    ctype = value.split(b";", 1)[0].strip().lower()
    return ctype.decode("ascii") if ctype in _BODY_TYPES else None


def survey(raw: bytes, limits: ParseLimits | None = None) -> Survey:
    """Check ``raw`` against the parse limits in one linear pass and describe its attachments.

    Args:
        raw: the message as received.
        limits: the bounds (``ParseLimits()`` by default); past one, the survey stops with a
            ``limit_exceeded`` defect and no attachments.
    """
    walk = _walk(raw, limits or ParseLimits())
    result = Survey(defects=list(walk.exceeded))
    if walk.exceeded:
        return result
    seen_text = seen_html = False
    for header, start, end, related in walk.leaves:
        body_type = None if seen_text and seen_html else _plain_body_type(header)
        if body_type == "text/plain" and not seen_text:
            seen_text = True
            continue
        if body_type == "text/html" and not seen_html:
            seen_html = True
            continue
        part = message_from_bytes(header + b"\r\n", policy=policy.compat32)
        ctype = part.get_content_type()
        disposition = _text(part.get("content-disposition", "")).split(";")[0].strip().lower()
        filename = _filename(part, result.defects)
        cid_value = part.get("content-id")
        cid = _text(cid_value).strip("<> ") if cid_value else None
        if ctype.startswith("message/"):
            size, sha = _digest(raw, start, end, "8bit")
            result.attachments.append(AttachmentInfo(
                filename=filename or "message.eml", content_type=ctype, content_id=cid, inline=False,
                size=size, sha256=sha,
            ))  # fmt: skip
            continue
        is_body = disposition != "attachment" and not filename and ctype in ("text/plain", "text/html")
        if is_body and ctype == "text/plain" and not seen_text:
            seen_text = True
            continue
        if is_body and ctype == "text/html" and not seen_html:
            seen_html = True
            continue
        encoding = _text(part.get("content-transfer-encoding", "7bit")).strip().lower()
        size, sha = _digest(raw, start, end, encoding)
        inline = cid is not None and (disposition == "inline" or (related and disposition != "attachment"))
        result.attachments.append(AttachmentInfo(
            filename=filename or "", content_type=ctype, content_id=cid, inline=inline, size=size, sha256=sha,
        ))  # fmt: skip
    return result
