r"""Turning imaplib's FETCH pieces into ``RawMail``, checking every response against the request.

imaplib hands a FETCH response with a literal over in two pieces: ``(prefix, literal)`` where the
prefix ends in ``BODY[] {n}``, then the rest of the line (``)`` or `` UID 7)``). The collector
pairs them, reads UID, FLAGS and INTERNALDATE, and refuses (``ProtocolError``) a body for a UID it
did not ask for, a body without a UID, the same UID twice, or a second literal in one response.
FETCH responses without a body (another client changed flags) are ignored, and so is ``BODY[] NIL``
for a UID asked for: another client expunged it after it was listed (Dovecot answers so, with
``[EXPUNGEISSUED]``), and it is skipped like a message expunged before the FETCH.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any

from mailconduit import MessageRef, ProtocolError, RawMail
from mailconduit_imap._errmap import Where, printable

__all__ = ["FetchCollector", "parse_internaldate"]

_UID = re.compile(rb"[( ]UID (\d{1,10})[ )]")
_FLAGS = re.compile(rb"[( ]FLAGS \(([^)]*)\)")
_DATE = re.compile(rb'[( ]INTERNALDATE "([^"]*)"')
_BODY_LITERAL = re.compile(rb"BODY\[\] \{\d+\}$")
_NIL_BODY = re.compile(rb"[( ]BODY\[\] NIL[ )]")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DATE_PARTS = re.compile(r"^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")


def parse_internaldate(text: str) -> datetime | None:
    """``"17-Jul-1996 02:44:25 -0700"`` as an aware datetime; None when malformed.

    >>> parse_internaldate(" 7-Jul-1996 02:44:25 -0700").isoformat()
    '1996-07-07T02:44:25-07:00'
    """
    match = _DATE_PARTS.match(text)
    if not match or match.group(2).title() not in _MONTHS:
        return None
    day, mon, year, hh, mm, ss, sign, oh, om = match.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
    try:
        return datetime(
            int(year), _MONTHS[mon.title()], int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset)
        )
    except ValueError:
        return None


class FetchCollector:
    """Takes imaplib's FETCH pieces (``fetch_sink``); queues ``RawMail`` for ``wanted`` (UID -> ref)."""

    def __init__(self, where: Where, folder: str) -> None:
        self.where = where
        self.folder = folder
        self.wanted: dict[int, MessageRef] = {}
        self.ready: deque[RawMail] = deque()
        self._pending: tuple[bytes, bytes] | None = None

    def _fail(self, what: str, line: bytes) -> ProtocolError:
        return ProtocolError(
            f"{self.where}: folder {self.folder!r}: the server's FETCH reply {what}: {printable(line)}; "
            "a hostile or broken server, the connection is dropped"
        )

    def __call__(self, dat: Any) -> None:
        """Take one piece: ``(prefix, literal)`` or a line."""
        if isinstance(dat, tuple):
            prefix, literal = dat
            if self._pending is not None or not _BODY_LITERAL.search(prefix):
                raise self._fail("carries an unexpected literal", prefix)
            self._pending = (prefix, literal)
            return
        line = bytes(dat or b"")
        if self._pending is None:
            if b"BODY[]" in line.upper():
                found = _UID.search(line)
                if _NIL_BODY.search(line) and found is not None and int(found.group(1)) in self.wanted:
                    # expunged by another client since it was listed (Dovecot: BODY[] NIL and
                    # [EXPUNGEISSUED]): gone, as if it had not been listed; nothing to store
                    del self.wanted[int(found.group(1))]
                    return
                raise self._fail("carries a body that is not a literal", line)
            return  # an unsolicited FETCH (flags changed by another client)
        prefix, literal = self._pending
        self._pending = None
        meta = prefix + b" " + line
        found = _UID.search(meta)
        if found is None:
            raise self._fail("has a body but no UID", prefix)
        uid = int(found.group(1))
        if uid not in self.wanted:
            raise self._fail(f"has a body for UID {uid}, which was not asked for (or came twice)", prefix)
        ref = self.wanted.pop(uid)
        flags = _FLAGS.search(meta)
        date = _DATE.search(meta)
        self.ready.append(
            RawMail(
                ref=ref,
                data=literal,
                flags=frozenset(flags.group(1).decode("ascii", "replace").split()) if flags else frozenset(),
                internal_date=parse_internaldate(date.group(1).decode("ascii", "replace")) if date else None,
            )
        )
