"""Modified UTF-7 (RFC 3501 section 5.1.3), the encoding of IMAP mailbox names, as pure functions.

Printable ASCII except ``&`` stands for itself, ``&`` is ``&-``, and every other run of characters
is ``&`` + base64 of its UTF-16BE form (``,`` instead of ``/``, no padding) + ``-``.
"""

from __future__ import annotations

import base64

__all__ = ["decode_mailbox", "encode_mailbox"]


def _b64(run: str) -> str:
    data = base64.b64encode(run.encode("utf-16-be")).decode("ascii")
    return data.rstrip("=").replace("/", ",")


def encode_mailbox(name: str) -> str:
    """Encode a mailbox name to modified UTF-7.

    >>> encode_mailbox("Entwürfe & Co")
    'Entw&APw-rfe &- Co'
    >>> encode_mailbox("INBOX")
    'INBOX'
    """
    out: list[str] = []
    run: list[str] = []
    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            if run:
                out.append("&" + _b64("".join(run)) + "-")
                run.clear()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    if run:
        out.append("&" + _b64("".join(run)) + "-")
    return "".join(out)


def decode_mailbox(name: str) -> str:
    """Decode a modified UTF-7 mailbox name; malformed shifts are kept as written.

    >>> decode_mailbox("Entw&APw-rfe &- Co")
    'Entwürfe & Co'
    >>> decode_mailbox("&ZeVnLIqe-")
    '日本語'
    """
    out: list[str] = []
    index = 0
    while index < len(name):
        char = name[index]
        end = name.find("-", index + 1) if char == "&" else -1
        if char != "&" or end < 0:
            out.append(char)
            index += 1
            continue
        chunk = name[index + 1 : end]
        if not chunk:
            out.append("&")
        else:
            try:
                padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
                out.append(base64.b64decode(padded, validate=True).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                out.append(name[index : end + 1])
        index = end + 1
    return "".join(out)
