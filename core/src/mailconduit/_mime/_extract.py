"""The full parse of one message that passed the pre-scan: bodies, attachments, headers, defects.

Runs inside the parse worker (``_worker``) under CPU and memory limits. It uses the stdlib parser
with ``compat32`` (lazy headers; ``policy.default`` is quadratic on encoded-words and crashes on
``unlisted-recipients:;``, RELIABILITY.md facts 3 and 4) and decodes headers with our own code.
The result is plain data (tuples, str, bytes) so it crosses the process boundary with ``marshal``.
"""

from __future__ import annotations

import re
from email import policy
from email.message import Message as StdMessage
from email.parser import BytesParser
from typing import Any

from mailconduit._mime._charsets import bytes_to_text, decode_charset, decode_encoded_words

__all__ = ["extract"]

ADDRESS_FIELDS = ("from", "to", "cc", "reply-to", "sender")
_KNOWN_CTE = {"", "7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode", "x-uue"}


def _raw_text(value: Any, defects: list[str]) -> str:
    """A compat32 header value (str with surrogate escapes, or a Header) as real text."""
    text = str(value)
    data = text.encode("utf-8", "surrogateescape")
    return bytes_to_text(data, defects)


def _unfold(text: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", text).strip()


def _addresses(text: str, defects: list[str], name: str) -> list[tuple[str, str | None]]:
    from mailconduit._addresses import parse_address, split_address_list
    from mailconduit._errors import AddressError

    found: list[tuple[str, str | None]] = []
    for item in split_address_list(text):
        if item.endswith(":") or (":" in item and item.rstrip().endswith(";")):
            continue  # an empty group such as "unlisted-recipients:;"
        try:
            address = parse_address(item, field=name)
        except AddressError:
            defects.append(f"{name}: an address that cannot be parsed exactly was left out")
            continue
        display = address.display_name
        if display and "=?" in display:
            display = decode_encoded_words(display, defects, max_words=1 << 30)
        found.append((address.addr_spec, display))
    return found


def _part_checks(part: StdMessage, defects: list[str], where: str) -> None:
    for name in ("content-type", "content-transfer-encoding"):
        values = part.get_all(name) or []
        if len(values) > 1:
            defects.append(f"{where}: {len(values)} {name} headers")
    ctype = str(part.get("content-type", "text/plain")).split(";")[0].strip()
    if "/" not in ctype:
        defects.append(f"{where}: invalid Content-Type {ctype[:60]!r}")
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte not in _KNOWN_CTE:
        defects.append(f"{where}: unknown Content-Transfer-Encoding {cte[:40]!r}")
    for key, value in part.items():
        text = str(value)
        if "\x00" in text:
            defects.append(f"{where}: NUL byte in header {key[:60]}")
        if any(len(line) + len(key) + 2 > 998 for line in text.split("\n")):
            defects.append(f"{where}: header line of {key[:60]} longer than 998 octets")
    for label, extra in (("preamble", part.preamble), ("epilogue", part.epilogue)):
        if extra and not extra.isascii():
            defects.append(f"{where}: 8-bit bytes in the {label}")


def extract(raw: bytes) -> dict[str, Any]:
    """Parse ``raw`` fully and return its parts as plain data; never raises on malformed input."""
    defects: list[str] = []
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    headers: list[tuple[str, str]] = []
    addresses: dict[str, list[tuple[str, str | None]]] = {}
    for key, value in msg.items():
        try:
            text = _unfold(_raw_text(value, defects))
            lower = key.lower()
            if lower in ADDRESS_FIELDS and lower not in addresses:
                addresses[lower] = _addresses(text, defects, lower)
            # the pre-scan already bounded the encoded-words of the whole message
            headers.append((key, decode_encoded_words(text, defects, max_words=1 << 30)))
        except Exception as exc:  # one bad header never costs the others (fact 4)
            defects.append(f"header {key[:60]}: {type(exc).__name__}")
    text_body: str | None = None
    html_body: str | None = None
    attachments: list[tuple[str, str, str | None, bool, bytes]] = []
    stack: list[tuple[StdMessage, bool, str]] = [(msg, False, "message")]
    while stack:
        part, in_related, where = stack.pop()
        defects.extend(f"{where}: {type(d).__name__}" for d in part.defects)
        _part_checks(part, defects, where)
        ctype = part.get_content_type()
        if part.is_multipart() and ctype.startswith("multipart/"):
            children: list[StdMessage] = part.get_payload()  # type: ignore[assignment]
            related = ctype == "multipart/related"
            for i in range(len(children) - 1, -1, -1):
                stack.append((children[i], related, f"{where}.{i + 1}"))
            continue
        disposition = str(part.get("content-disposition", "")).split(";")[0].strip().lower()
        filename = _filename(part, defects)
        if isinstance(filename, str) and "=?" in filename:
            filename = decode_encoded_words(filename, defects)
        content_id = part.get("content-id")
        cid = _unfold(_raw_text(content_id, defects)).strip("<> ") if content_id else None
        if ctype.startswith("message/") or part.is_multipart():
            attachments.append(
                (filename or "message.eml", ctype, cid, False, _embedded(part, where, defects))
            )
            continue
        data = _leaf_bytes(part, where, defects)
        is_body = disposition != "attachment" and not filename and ctype in ("text/plain", "text/html")
        if is_body and ctype == "text/plain" and text_body is None:
            text_body = _newlines(decode_charset(data, part.get_content_charset(), defects))
        elif is_body and ctype == "text/html" and html_body is None:
            html_body = _newlines(decode_charset(data, part.get_content_charset(), defects))
        else:
            inline = cid is not None and (
                disposition == "inline" or (in_related and disposition != "attachment")
            )
            attachments.append((filename or "", ctype, cid, inline, data))
    return {
        "headers": headers,
        "addresses": addresses,
        "text": text_body,
        "html": html_body,
        "attachments": attachments,
        "defects": defects,
    }


def _embedded(part: StdMessage, where: str, defects: list[str]) -> bytes:
    """The bytes of an embedded message (message/rfc822), with its parts' defects recorded."""
    inner: Any = part.get_payload()
    try:
        if not isinstance(inner, list):
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
        for embedded in inner:
            for sub in embedded.walk():  # bounded: the pre-scan counted these parts
                defects.extend(f"{where} (embedded): {type(d).__name__}" for d in sub.defects)
        return b"".join(m.as_bytes() for m in inner)
    except Exception as exc:
        defects.append(f"{where}: embedded message cannot be re-serialised: {type(exc).__name__}")
        return b""


def _leaf_bytes(part: StdMessage, where: str, defects: list[str]) -> bytes:
    """The decoded bytes of a leaf part, noting 8-bit bytes in a 7bit part and NUL bytes."""
    payload = part.get_payload(decode=True)
    encoded = part.get_payload()
    cte = str(part.get("content-transfer-encoding", "7bit")).strip().lower()
    if isinstance(encoded, str):
        if cte in ("", "7bit") and not encoded.isascii():
            defects.append(f"{where}: 8-bit bytes in a 7bit part")
        if "\x00" in encoded:
            defects.append(f"{where}: NUL byte in the body")
    return payload if isinstance(payload, bytes) else b""


def _filename(part: StdMessage, defects: list[str]) -> str | None:
    """The part's filename, RFC 2231 decoded, without the stdlib's stripping of outer spaces."""
    from email.utils import collapse_rfc2231_value

    value = part.get_param("filename", None, "content-disposition")
    if value is None:
        value = part.get_param("name", None, "content-type")
    if value is None:
        return None
    return _raw_text(collapse_rfc2231_value(value), defects)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
