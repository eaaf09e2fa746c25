r"""Parsing LIST responses into ``FolderInfo``: flags, delimiter, and the name decoded from modified UTF-7.

imaplib leaves a LIST line as ``(\HasNoChildren \Sent) "/" "Sent"``, or, when the server sends the
name as a literal, as the pair ``(b'(\\Noselect) "/" {5}', b'name')`` followed by the rest of the line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mailconduit import FolderInfo, ProtocolError
from mailconduit_imap._errmap import Where, printable
from mailconduit_imap._utf7 import decode_mailbox

__all__ = ["parse_list", "parse_list_line"]

_HEAD = re.compile(rb'^\(([^)]*)\) (NIL|"(?:[^"\\]|\\.)*") ?(.*)$', re.DOTALL)
_QUOTED = re.compile(rb'^"((?:[^"\\]|\\.)*)"')
_ATOM = re.compile(rb"^[^\s()]+")


def _unquote(text: bytes) -> bytes:
    return re.sub(rb"\\(.)", rb"\1", text)


def parse_list_line(head: bytes, literal: bytes | None = None) -> FolderInfo | None:
    r"""One LIST response (without ``* LIST``); None when it is not one.

    >>> info = parse_list_line(b'(\\HasNoChildren \\Sent) "/" "Entw&APw-rfe"')
    >>> info.name, info.delimiter, sorted(info.flags)
    ('Entwürfe', '/', ['\\HasNoChildren', '\\Sent'])
    >>> parse_list_line(b'(\\Noselect) NIL {3}', b'a"b').name
    'a"b'
    """
    match = _HEAD.match(head)
    if match is None:
        return None
    flags = frozenset(match.group(1).decode("ascii", "replace").split())
    delimiter = (
        None if match.group(2) == b"NIL" else _unquote(match.group(2)[1:-1]).decode("ascii", "replace")
    )
    rest = match.group(3)
    if literal is not None:
        raw = literal
    elif (quoted := _QUOTED.match(rest)) is not None:
        raw = _unquote(quoted.group(1))
    elif (atom := _ATOM.match(rest)) is not None:
        raw = atom.group(0)
    else:
        return None
    name = raw.decode("utf-8", "replace")
    return FolderInfo(name=decode_mailbox(name), delimiter=delimiter, flags=flags)


def parse_list(entries: Sequence[Any], where: Where) -> list[FolderInfo]:
    """All LIST responses imaplib collected, in order; ``ProtocolError`` for one it cannot read."""
    folders: list[FolderInfo] = []
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if isinstance(entry, tuple):
            head, literal = entry
            info = parse_list_line(re.sub(rb" ?\{\d+\}$", b"", head) + b" ", literal)
            index += 1  # the rest of the line after the literal
        else:
            info = parse_list_line(bytes(entry))
        if info is None:
            raise ProtocolError(
                f"{where}: malformed LIST reply: {printable(entry if isinstance(entry, bytes) else entry[0])}"
            )
        folders.append(info)
    return folders
