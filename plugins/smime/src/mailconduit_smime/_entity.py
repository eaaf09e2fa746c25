"""Cutting a message into its outer headers and its MIME entity, and wrapping CMS output as MIME.

Signing and encryption protect the MIME entity (the ``Content-*`` headers and the body); the
envelope headers (From, To, Subject, Date ...) stay outside. Bytes are cut, never re-serialised:
a generator would change what was signed. Line ends become CRLF, as on the wire.
"""

from __future__ import annotations

import base64
import re

__all__ = ["crlf", "header_value", "join", "pkcs7_mime", "split"]

_LINE_END = re.compile(rb"\r?\n")
_ENTITY_HEADER = re.compile(rb"^(content-|mime-version:)", re.IGNORECASE)


def crlf(data: bytes) -> bytes:
    """``data`` with every line ending as CRLF."""
    return _LINE_END.sub(b"\r\n", bytes(data))


def _fields(head: bytes) -> list[bytes]:
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line:
            fields.append(line)
    return fields


def split(data: bytes) -> tuple[bytes, bytes]:
    """Return ``(outer headers, entity)`` of a message, both CRLF.

    The outer part holds every header but ``Content-*`` and ``MIME-Version``, each ending in CRLF.
    The entity holds the ``Content-*`` headers, a blank line and the body; a message without a
    ``Content-Type`` gets ``text/plain; charset=us-ascii``, its RFC 2045 default.
    """
    data = crlf(data)
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, body = data, b""
    outer: list[bytes] = []
    entity: list[bytes] = []
    for field in _fields(head):
        if field.lower().startswith(b"mime-version:"):
            continue
        (entity if _ENTITY_HEADER.match(field) else outer).append(field)
    if not any(f.lower().startswith(b"content-type:") for f in entity):
        entity.insert(0, b"Content-Type: text/plain; charset=us-ascii")
    outer_bytes = b"".join(f + b"\r\n" for f in outer)
    return outer_bytes, b"\r\n".join(entity) + b"\r\n\r\n" + body


def join(outer: bytes, entity: bytes) -> bytes:
    """A whole message: the outer headers, ``MIME-Version: 1.0`` and the entity."""
    if entity.lower().startswith(b"mime-version:"):
        return outer + entity
    return outer + b"MIME-Version: 1.0\r\n" + entity


def header_value(entity_or_message: bytes, name: str) -> str | None:
    """The unfolded value of the first header ``name`` in the header block, or None."""
    head = crlf(entity_or_message).partition(b"\r\n\r\n")[0]
    wanted = name.lower().encode("ascii") + b":"
    for field in _fields(head):
        if field.lower().startswith(wanted):
            value = field[len(wanted) :].replace(b"\r\n", b"")
            return value.decode("utf-8", "replace").strip()
    return None


def pkcs7_mime(der: bytes, smime_type: str) -> bytes:
    """An ``application/pkcs7-mime`` entity (base64, CRLF, 76 columns) holding ``der``."""
    encoded = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="smime.p7m"\r\n'
        "\r\n"
    ).encode("ascii") + encoded
