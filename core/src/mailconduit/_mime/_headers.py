"""Generated header bytes, checked by our own code: values refused or encoded, output re-verified.

The installed Pythons lack ``email.policy.verify_generated_headers`` (RELIABILITY.md fact 1), so
nothing here trusts the stdlib generator: every value is checked for line breaks and controls
before it is encoded, and the finished header block is parsed again and compared with the intended
field names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from mailconduit._errors import AddressError, HeaderInjectionError, MessageError
from mailconduit._message import Address

__all__ = [
    "check_value",
    "encode_words",
    "fold",
    "format_address",
    "is_field_name",
    "unstructured_tokens",
    "verify_header_names",
    "verify_line_structure",
]

# C0 controls except TAB, DEL, and the characters str.splitlines treats as line breaks
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}")
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_SIMPLE_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*")
_PRINTABLE = re.compile(r"[ -~]*")
_WORD_BYTES = 45  # 45 bytes -> 60 base64 characters -> a 72-character encoded-word
MAX_LINE = 78


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def check_value(field: str, value: str) -> None:
    """Refuse a value that holds CR, LF, NUL, another control or a Unicode line separator.

    Raises:
        HeaderInjectionError: naming ``field`` and the character found.
    """
    found = _FORBIDDEN.search(value)
    if found:
        raise HeaderInjectionError(
            field,
            f"contains {_describe(found.group())} at position {found.start()}; header values cannot "
            "hold line breaks or control characters (remove them from the value)",
        )


def is_field_name(name: str) -> bool:
    """True when ``name`` is a valid RFC 5322 field name (printable ASCII, no colon, no space)."""
    return bool(_FIELD_NAME.fullmatch(name))


def encode_words(text: str) -> list[str]:
    """Encode ``text`` as RFC 2047 UTF-8 base64 encoded-words of at most 75 characters each."""
    import base64

    words: list[str] = []
    chunk = bytearray()
    for char in text:
        data = char.encode("utf-8", "surrogatepass")
        if len(chunk) + len(data) > _WORD_BYTES:
            words.append(f"=?utf-8?b?{base64.b64encode(bytes(chunk)).decode('ascii')}?=")
            chunk.clear()
        chunk += data
    if chunk or not words:
        words.append(f"=?utf-8?b?{base64.b64encode(bytes(chunk)).decode('ascii')}?=")
    return words


def unstructured_tokens(field: str, value: str) -> list[str]:
    """Check ``value`` and return the tokens of an unstructured header (Subject, custom headers).

    Plain printable ASCII with single spaces is kept readable; anything else (non-ASCII, leading
    or repeated spaces, tabs, text that looks like an encoded-word, very long words) becomes
    encoded-words, so the value survives folding and decoding exactly.
    """
    check_value(field, value)
    if value == "":
        return []
    if _SIMPLE_TEXT.fullmatch(value) and "=?" not in value and max(map(len, value.split(" "))) <= 900:
        return value.split(" ")
    return encode_words(value)


def _domain_ascii(field: str, domain: str) -> str:
    if domain.isascii():
        return domain
    if domain.startswith("["):
        raise AddressError(f"{field}: address literal {domain!r} must be ASCII")
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise AddressError(f"{field}: domain {domain!r} cannot be encoded with IDNA: {exc}") from None


def format_address(field: str, address: Address) -> str:
    """Format one address for a header: display name quoted or encoded, domain IDNA-encoded.

    An internationalised local part stays UTF-8 (RFC 6532; sending it needs SMTPUTF8).

    Raises:
        HeaderInjectionError: the address or display name holds a line break or control character.
        AddressError: the address is not a single valid addr-spec.
    """
    from mailconduit._addresses import parse_address

    check_value(f"{field}.addr_spec", address.addr_spec)
    parse_address(f"<{address.addr_spec}>", field=f"{field}.addr_spec")
    local, _, domain = address.addr_spec.rpartition("@")
    spec = f"{local}@{_domain_ascii(field, domain)}"
    name = address.display_name
    if not name:
        return spec
    check_value(f"{field}.display_name", name)
    if _ATOM_PHRASE.fullmatch(name) and "=?" not in name:
        phrase = name
    elif _PRINTABLE.fullmatch(name) and "=?" not in name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        phrase = f'"{escaped}"'
    else:
        phrase = " ".join(encode_words(name))
    return f"{phrase} <{spec}>"


def fold(name: str, tokens: Sequence[str]) -> bytes:
    """Join ``tokens`` after ``name:`` with spaces, folding before a token where a line would pass 78."""
    lines: list[str] = []
    line = f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > MAX_LINE and line != f"{name}:":
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def verify_line_structure(data: bytes, where: str = "message") -> None:
    """Check that ``data`` has only CRLF line ends, no NUL, and no line over 998 octets.

    Raises:
        MessageError: naming the first problem; this is a guard against our own bugs.
    """
    if b"\x00" in data:
        raise MessageError(f"{where}: generated bytes contain NUL (internal error; please report)")
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
        raise MessageError(
            f"{where}: generated bytes contain a bare CR or LF (internal error; please report)"
        )
    if any(len(line) > 998 for line in data.split(b"\r\n")):
        raise MessageError(f"{where}: a generated line is longer than 998 octets (internal error)")


def verify_header_names(data: bytes, expected: Sequence[str]) -> None:
    """Re-parse the top header block of ``data`` two ways and require exactly the ``expected`` fields.

    Raises:
        MessageError: the re-parsed field names differ from the intended ones.
    """
    from email import policy
    from email.parser import BytesParser

    end = data.find(b"\r\n\r\n")
    block = data[: end + 2] if end >= 0 else data
    ours = [
        line.split(b":", 1)[0].decode("ascii", "replace")
        for line in block.split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t")
    ]
    theirs = BytesParser(policy=policy.compat32).parsebytes(data, headersonly=True).keys()
    if ours != list(expected) or [k.lower() for k in theirs] != [k.lower() for k in expected]:
        raise MessageError(
            f"generated header fields {ours} differ from the intended {list(expected)} "
            "(internal error; the message was not sent)"
        )
