r"""POP3 command lines, built only from arguments that cannot smuggle a second command (RELIABILITY G2).

RFC 1939 arguments are separated by single spaces and end at CRLF, so a CR, LF or NUL inside a
``USER``, ``PASS`` or ``UIDL`` argument would let a value start its own command (``alice\r\nDELE 1``).
poplib sends what it is given. Here every argument is checked and refused with an error naming the
command and the argument; nothing is sent. Spaces are refused too: in ``USER`` a space would split
the argument, and a password with a space goes through ``AUTH PLAIN`` instead (see ``_auth.py``).
RFC 2449 limits a command line to 255 octets; longer arguments are refused as well.
"""

from __future__ import annotations

import unicodedata

from mailconduit import HeaderInjectionError

__all__ = ["MAX_ARGUMENT", "command_line", "unsafe_characters"]

MAX_ARGUMENT = 255
"""Longest argument accepted (RFC 2449 section 4: 255 octets, the line a little more)."""
_VERBS = frozenset({"USER", "PASS", "STAT", "LIST", "UIDL", "RETR", "DELE", "NOOP", "RSET", "QUIT"})
_VERBS |= {"CAPA", "STLS", "AUTH", "TOP"}


def unsafe_characters(value: str) -> list[str]:
    r"""The characters of ``value`` a POP3 argument must not hold, as ``U+XXXX`` names, sorted.

    Control characters (CR, LF, NUL and the rest of C0, DEL, C1), spaces of any kind and the
    Unicode line and paragraph separators.

    >>> unsafe_characters("al ice\r\n")
    ['U+000A', 'U+000D', 'U+0020']
    >>> unsafe_characters("alice@example.org")
    []
    """
    bad = {
        c
        for c in value
        if c.isspace() or unicodedata.category(c) in {"Cc", "Zl", "Zp", "Zs"} or c in "\u2028\u2029\x85"
    }
    return [f"U+{ord(c):04X}" for c in sorted(bad)]


def command_line(verb: str, *args: str | int) -> bytes:
    r"""``VERB arg ...`` + CRLF as bytes, after checking every argument.

    Args:
        verb: a POP3 command (``USER``, ``RETR`` ...).
        args: its arguments; ints (message numbers) must be positive.

    Raises:
        HeaderInjectionError: an argument is empty, too long or holds a character listed by
            :func:`unsafe_characters`; ``field`` names the command and argument (``POP3 USER argument``).

    >>> command_line("RETR", 7)
    b'RETR 7\r\n'
    """
    if verb not in _VERBS:
        raise ValueError(f"unknown POP3 command {verb!r}")
    parts = [verb]
    for position, arg in enumerate(args, 1):
        field = f"POP3 {verb} argument" + (f" {position}" if len(args) > 1 else "")
        if isinstance(arg, int):
            if arg < 1:
                raise HeaderInjectionError(field, f"a message number must be positive, got {arg}")
            parts.append(str(arg))
            continue
        bad = unsafe_characters(arg)
        if bad:
            raise HeaderInjectionError(
                field,
                f"contains {', '.join(bad)}; POP3 would read the rest as another command or argument, "
                "so nothing was sent (fix the configured value)",
            )
        if not arg:
            raise HeaderInjectionError(field, "is empty; nothing was sent")
        if len(arg.encode()) > MAX_ARGUMENT:
            raise HeaderInjectionError(field, f"is longer than {MAX_ARGUMENT} bytes; nothing was sent")
        parts.append(arg)
    return " ".join(parts).encode() + b"\r\n"
