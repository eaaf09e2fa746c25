"""Decoding of header and body bytes under a declared charset, never raising, with defects recorded.

RFC 2047 encoded-words are decoded here too, in one linear pass with a cap on how many are decoded,
because the stdlib's ``policy.default`` header parser is quadratic on them (RELIABILITY.md fact 3).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

__all__ = ["bytes_to_text", "decode_charset", "decode_encoded_words"]

_CHARSET_NAME = re.compile(r"[A-Za-z0-9_.:+-]{1,40}")
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")


def decode_charset(data: bytes, charset: str | None, defects: list[str]) -> str:
    """Decode ``data`` as ``charset``; an unknown or failing charset falls back to UTF-8 with replacement.

    Args:
        data: the bytes to decode.
        charset: the declared charset (None or empty means US-ASCII, read as UTF-8 to be lenient).
        defects: where a note is appended when the charset is unknown or the bytes do not fit it.
    """
    name = (charset or "utf-8").strip().strip('"').lower() or "utf-8"
    if name in ("us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        name = "utf-8"
    if not _CHARSET_NAME.fullmatch(name):
        defects.append(f"unknown charset {name[:40]!r}; decoded as UTF-8 with replacement characters")
        return data.decode("utf-8", "replace")
    try:
        codecs.lookup(name)
    except LookupError:
        defects.append(f"unknown charset {name!r}; decoded as UTF-8 with replacement characters")
        return data.decode("utf-8", "replace")
    try:
        return data.decode(name)
    except LookupError:  # a codec that is not a text encoding (base64_codec, zlib_codec ...)
        defects.append(f"charset {name!r} is not a text encoding; decoded as UTF-8 with replacement")
        return data.decode("utf-8", "replace")
    except UnicodeDecodeError:
        defects.append(f"bytes do not match charset {name!r}; undecodable bytes replaced")
        return data.decode(name, "replace")


def bytes_to_text(data: bytes, defects: list[str]) -> str:
    """Read raw header bytes: UTF-8 when valid (RFC 6532), else Latin-1 with a defect noted."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        defects.append("8-bit header bytes that are not UTF-8; read as Latin-1")
        return data.decode("latin-1")


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    raw = payload.encode("ascii", "replace")
    try:
        if encoding in "bB":
            return base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=False)
        return binascii.a2b_qp(raw, header=True)
    except (binascii.Error, ValueError):
        return None


def decode_encoded_words(text: str, defects: list[str], *, max_words: int = 1000) -> str:
    """Decode the RFC 2047 encoded-words in ``text`` in one pass; never raises.

    Adjacent encoded-words in the same charset are joined before decoding, so a character split
    across two words survives, and whitespace between adjacent encoded-words is dropped (RFC 2047
    section 6.2). After ``max_words`` words the rest is left as it is, with a ``limit_exceeded`` defect.

    Args:
        text: an unfolded header value.
        defects: where notes about bad words and exceeded limits are appended.
        max_words: how many encoded-words are decoded at most.
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending_charset: str | None = None
    pending = bytearray()
    pos = 0
    count = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(decode_charset(bytes(pending), pending_charset, defects))
            pending.clear()
            pending_charset = None

    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        if pending_charset is None or between.strip(" \t\r\n"):
            flush()
            out.append(between)
        count += 1
        if count > max_words:
            flush()
            defects.append(
                f"limit_exceeded: more than {max_words} encoded-words in one header; rest kept raw"
            )
            out.append(text[match.start() :])
            return "".join(out)
        charset = match.group(1).lower()
        data = _word_bytes(match.group(2), match.group(3))
        pos = match.end()
        if data is None:
            flush()
            defects.append("an encoded-word could not be decoded; kept as written")
            out.append(match.group(0))
            continue
        if pending_charset is not None and pending_charset != charset:
            flush()
        pending_charset = charset
        pending += data
    flush()
    out.append(text[pos:])
    return "".join(out)
