"""Script pieces for a fake IMAP server (``mailconduit.testing.scripted_server``): greeting, login, SELECT."""

from __future__ import annotations

from mailconduit.testing import Expect, Send

CAPS = b"IMAP4rev1 UIDPLUS IDLE MOVE AUTH=PLAIN"
GREETING = Send(b"* OK [CAPABILITY " + CAPS + b"] fake ready\r\n")


def capability(caps: bytes = CAPS) -> list[Expect | Send]:
    """Answer one CAPABILITY command."""
    return [Expect(rb"CAPABILITY"), Send(b"* CAPABILITY " + caps + b"\r\n{tag} OK done\r\n")]


def logged_in(caps: bytes = CAPS) -> list[Expect | Send]:
    """Greeting, CAPABILITY, LOGIN accepted, CAPABILITY again."""
    return [
        Send(b"* OK fake ready\r\n"),
        *capability(caps),
        Expect(rb"LOGIN"),
        Send(b"{tag} OK logged in\r\n"),
        *capability(caps),
    ]


SELECT = [
    Expect(rb"SELECT"),
    Send(
        b"* 2 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 3] ok\r\n{tag} OK [READ-WRITE] selected\r\n"
    ),
]

LOGOUT = [Expect(rb"LOGOUT"), Send(b"* BYE bye\r\n{tag} OK bye\r\n")]
