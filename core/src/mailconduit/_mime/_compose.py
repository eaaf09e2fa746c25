"""Turn a ``mailconduit.Message`` into RFC 5322 bytes with CRLF line ends, verified before it is returned.

Structure: ``multipart/mixed`` (attachments) around ``multipart/related`` (inline parts referenced
by ``cid:``) around ``multipart/alternative`` (text and HTML), each level present only when needed.
Headers are written by ``_headers`` and the finished message is re-parsed as a guard.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
import urllib.parse
from datetime import UTC, datetime

from mailconduit._errors import HeaderInjectionError, MessageError
from mailconduit._message import Address, Attachment, Message
from mailconduit._mime._headers import (
    check_value,
    fold,
    format_address,
    is_field_name,
    unstructured_tokens,
    verify_header_names,
    verify_line_structure,
)

__all__ = ["OWNED_HEADERS", "compose"]

OWNED_HEADERS = frozenset(
    {
        "from", "sender", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "mime-version",
        "content-type", "content-transfer-encoding", "content-disposition", "content-id",
    }
)  # fmt: skip
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTENT_ID = re.compile(r"[!#-;=?-~]+")  # printable ASCII without space, '<', '>', '"'
_FILENAME_UNSAFE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_SAFE_FILENAME = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without '"' and '\'


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _text_part(subtype: str, text: str) -> tuple[list[bytes], bytes]:
    """Headers and body of a text part: 7bit when it fits, else quoted-printable (exact round trip)."""
    body = _crlf(text)
    lines = body.split("\r\n")
    plain = (
        body.isascii()
        and all(len(line) <= 998 for line in lines)
        and not any(line.startswith(("From ", ".")) or line.endswith((" ", "\t")) for line in lines)
    )
    ends_open = body != "" and not body.endswith("\r\n")
    if plain and not ends_open:
        charset, cte, payload = "us-ascii", "7bit", body.encode("ascii")
    else:
        raw = body.replace("\r\n", "\n").encode("utf-8")
        encoded = binascii.b2a_qp(raw, quotetabs=False, istext=True, header=False)
        encoded = encoded.replace(b"\n.", b"\n=2E").replace(b"\nFrom ", b"\n=46rom ")
        if encoded.startswith((b".", b"From ")):
            encoded = b"=" + f"{encoded[0]:02X}".encode() + encoded[1:]
        if ends_open:
            encoded += b"=\n"  # a soft line break: the decoded text ends without a newline, as given
        charset, cte, payload = "utf-8", "quoted-printable", encoded.replace(b"\n", b"\r\n")
    headers = [
        f"Content-Type: text/{subtype}; charset={charset}\r\n".encode(),
        f"Content-Transfer-Encoding: {cte}\r\n".encode(),
    ]
    return headers, payload


def _filename_params(filename: str) -> str:
    """The filename parameter(s): quoted when plain ASCII, else RFC 2231 UTF-8 with continuations."""
    name = _FILENAME_UNSAFE.sub("_", filename)  # sanitised, never refused: names come from uploads
    if _SAFE_FILENAME.fullmatch(name) and len(name) <= 60 and name == name.strip():
        return f'filename="{name}"'
    chunks = _rechunk(urllib.parse.quote(name.encode("utf-8"), safe=""))
    if len(chunks) == 1:
        return f"filename*=utf-8''{chunks[0]}"
    return ";\r\n ".join(
        f"filename*{i}*=utf-8''{c}" if i == 0 else f"filename*{i}*={c}" for i, c in enumerate(chunks)
    )


def _rechunk(quoted: str) -> list[str]:
    """Split percent-encoded text into chunks of about 60 characters without cutting a %XX escape."""
    chunks: list[str] = []
    current = ""
    i = 0
    while i < len(quoted):
        step = 3 if quoted[i] == "%" else 1
        if len(current) + step > 60:
            chunks.append(current)
            current = ""
        current += quoted[i : i + step]
        i += step
    chunks.append(current)
    return chunks


def _attachment_part(index: int, attachment: Attachment) -> tuple[list[bytes], bytes]:
    field = f"attachments[{index}]"
    ctype = attachment.content_type.strip().lower()
    main, _, sub = ctype.partition("/")
    if not (_TOKEN.fullmatch(main) and _TOKEN.fullmatch(sub)):
        check_value(f"{field}.content_type", attachment.content_type)
        raise MessageError(f"{field}.content_type: {attachment.content_type!r} is not a valid type/subtype")
    disposition = "inline" if attachment.inline else "attachment"
    unencoded = ctype == "message/rfc822" and _seven_bit_lines(attachment.content)
    headers = [
        f"Content-Type: {ctype}\r\n".encode(),
        b"Content-Transfer-Encoding: 7bit\r\n" if unencoded else b"Content-Transfer-Encoding: base64\r\n",
        f"Content-Disposition: {disposition}; {_filename_params(attachment.filename)}\r\n".encode(),
    ]
    if attachment.content_id is not None:
        check_value(f"{field}.content_id", attachment.content_id)
        cid = attachment.content_id.strip("<>")
        if not _CONTENT_ID.fullmatch(cid):
            raise MessageError(
                f"{field}.content_id: {attachment.content_id!r} must be printable ASCII without spaces or "
                "angle brackets, like 'logo@example.org'"
            )
        headers.append(f"Content-ID: <{cid}>\r\n".encode())
    if unencoded:  # RFC 2046 5.2.1: a message/rfc822 part is 7bit, 8bit or binary, never base64
        return headers, attachment.content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    payload = base64.encodebytes(attachment.content).replace(b"\n", b"\r\n")
    return headers, payload


def _seven_bit_lines(data: bytes) -> bool:
    """True when ``data`` is ASCII without NUL or bare CR, in lines of at most 998 bytes (7bit, RFC 5322).

    Other content (8-bit bytes, long lines) keeps base64, which every reader decodes, so a forward
    never needs 8BITMIME.
    """
    if not data.isascii() or b"\0" in data or b"\r" in data.replace(b"\r\n", b""):
        return False
    return all(len(line) <= 998 for line in data.replace(b"\r\n", b"\n").split(b"\n"))


def _multipart(subtype: str, parts: list[tuple[list[bytes], bytes]]) -> tuple[list[bytes], bytes]:
    while True:
        boundary = f"=_mc_{secrets.token_hex(12)}"
        marker = f"--{boundary}".encode()
        if not any(marker in body or any(marker in h for h in heads) for heads, body in parts):
            break
    body = b""
    for heads, payload in parts:
        # the CRLF before each delimiter belongs to the delimiter, so the payload keeps its own ending
        body += marker + b"\r\n" + b"".join(heads) + b"\r\n" + payload + b"\r\n"
    body += marker + b"--\r\n"
    return [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n'.encode()], body


def _body(message: Message) -> tuple[list[bytes], bytes]:
    alternatives = []
    if message.text is not None or message.html is None:
        alternatives.append(_text_part("plain", message.text or ""))
    if message.html is not None:
        alternatives.append(_text_part("html", message.html))
    core = alternatives[0] if len(alternatives) == 1 else _multipart("alternative", alternatives)
    numbered = list(enumerate(message.attachments))
    inline = [_attachment_part(i, a) for i, a in numbered if a.inline]
    if inline:
        core = _multipart("related", [core, *inline])
    normal = [_attachment_part(i, a) for i, a in numbered if not a.inline]
    if normal:
        core = _multipart("mixed", [core, *normal])
    return core


def _addresses(field: str, addresses: tuple[Address, ...] | list[Address]) -> list[str]:
    tokens = [format_address(f"{field}[{i}]", a) for i, a in enumerate(addresses)]
    return [t + "," for t in tokens[:-1]] + tokens[-1:]


def _message_id(message: Message, domain: str | None) -> str:
    if message.message_id:
        check_value("message_id", message.message_id)
        mid = message.message_id.strip()
        mid = mid if mid.startswith("<") else f"<{mid}>"
        if not re.fullmatch(r"<[!-;=?-~]+@[!-;=?-~]+>", mid):
            raise MessageError(f"message_id: {message.message_id!r} must look like 'unique@domain'")
        return mid
    host = domain or (message.from_.domain if message.from_ else "mailconduit.invalid")
    check_value("message_id_domain", host)
    host = host.encode("idna").decode("ascii") if not host.isascii() else host
    return f"<{int(time.time())}.{secrets.token_hex(10)}@{host}>"


def compose(message: Message, *, message_id_domain: str | None = None) -> bytes:
    """Build the RFC 5322 bytes of ``message`` (CRLF line ends); BCC never appears in the headers.

    Message-ID and Date are generated when the message has none. The result is re-parsed and must
    show exactly the intended header fields, with no bare CR/LF, NUL or over-long line.

    Args:
        message: the message to build.
        message_id_domain: the domain of a generated Message-ID (default: the From domain).

    Raises:
        HeaderInjectionError: a header value holds CR, LF, NUL or another line separator; names the field.
        AddressError: an address is not valid; names the field.
        MessageError: a custom header name is invalid or one mailconduit writes itself.
    """
    head: list[tuple[str, list[str]]] = []
    if message.from_ is not None:
        head.append(("From", [format_address("from", message.from_)]))
    if message.sender is not None:
        head.append(("Sender", [format_address("sender", message.sender)]))
    for name, field, people in (
        ("To", "to", message.to),
        ("Cc", "cc", message.cc),
        ("Reply-To", "reply_to", message.reply_to),
    ):
        if people:
            head.append((name, _addresses(field, list(people))))
    head.append(("Subject", unstructured_tokens("subject", message.subject)))
    date = message.date or datetime.now(UTC)
    date = date if date.tzinfo else date.replace(tzinfo=UTC)
    from email.utils import format_datetime

    head.append(("Date", [format_datetime(date)]))
    head.append(("Message-ID", [_message_id(message, message_id_domain)]))
    head.append(("MIME-Version", ["1.0"]))
    for name, value in message.headers.items():
        field = f"headers[{name!r}]"
        if not isinstance(name, str) or not is_field_name(name):
            raise HeaderInjectionError(
                field, "is not a valid header field name (printable ASCII, no colon or space)"
            )
        if name.lower() in OWNED_HEADERS:
            raise MessageError(f"{field}: mailconduit writes {name} itself; set it on the Message instead")
        head.append((name, unstructured_tokens(field, value)))
    body_headers, body = _body(message)
    data = b"".join(fold(name, tokens) for name, tokens in head) + b"".join(body_headers) + b"\r\n" + body
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    verify_line_structure(data)
    names = [name for name, _ in head] + [h.split(b":", 1)[0].decode("ascii") for h in body_headers]
    verify_header_names(data, names)
    return data
