"""C5 and G2 end to end: framing payloads checked at the receiver and on the wire; injection refused."""

from __future__ import annotations

import pytest

from mailconduit import HeaderInjectionError, TlsMode
from mailconduit.testing import SmtpServer
from mailconduit_smtp import SmtpTransport
from mailconduit_smtp._framing import normalise_line_endings

from .conftest import MakeAccount

PAYLOADS = [
    b"bare CR\rin the middle",
    b"bare LF\nin the middle",
    b".leading dot\r\n..two dots\r\n",
    b"x\r\n.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n",
    b"x\n.\nMAIL FROM:<evil@example.org>\n",
    b"x\r.\rMAIL FROM:<evil@example.org>\r",
    b"x\r\n.\nMAIL FROM:<evil@example.org>\r\n",
    b"no final newline",
]


def data_lines(wire_lines: list[bytes]) -> list[bytes]:
    """The lines the client sent between DATA and the final dot (inclusive)."""
    start = next(i for i, line in enumerate(wire_lines) if line == b"DATA\r\n") + 1
    end = wire_lines.index(b".\r\n", start)
    return wire_lines[start : end + 1]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("tls", [TlsMode.NONE, TlsMode.TLS])
def test_framing_payload_arrives_intact_and_cannot_end_data(
    payload: bytes, tls: TlsMode, smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    port = smtp_server.plain_port if tls is TlsMode.NONE else smtp_server.tls_port
    data = b"Subject: framing\r\n\r\n" + payload
    with SmtpTransport().open(make_account(port, tls), None) as session:
        session.send("support@example.test", ["a@example.test"], data)
        session.send("support@example.test", ["b@example.test"], b"Subject: next\r\n\r\nok\r\n")
    expected = normalise_line_endings(data)
    if not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    first, second = smtp_server.messages  # nothing smuggled: exactly the two messages, intact
    assert first.data == expected and first.rcpt_tos == ("a@example.test",)
    assert second.data == b"Subject: next\r\n\r\nok\r\n" and second.rcpt_tos == ("b@example.test",)
    (record,) = smtp_server.sessions
    assert record.commands() == ["EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "DATA", "QUIT"]
    lines = data_lines(record.received())
    for line in lines:
        assert line.endswith(b"\r\n") and b"\r" not in line[:-2] and b"\n" not in line[:-2]
    assert all(line.startswith(b"..") for line in lines[:-1] if line.startswith(b"."))
    assert lines[-1] == b".\r\n" and b".\r\n" not in lines[:-1]


@pytest.mark.parametrize(
    ("envelope_from", "recipients", "field"),
    [
        ("a@example.test>\r\nRCPT TO:<evil@example.org", ["b@example.test"], "envelope from"),
        ("a@example.test", ["b@example.test", "c@example.test\r\nDATA"], "envelope recipient 2"),
        ("a@example.test", ["b@example.test\0"], "envelope recipient 1"),
        ("a@example.test", ["b@example.test SIZE=1"], "envelope recipient 1"),
        ("a@example.test", ["b@example.test\u2028x"], "envelope recipient 1"),
    ],
)
def test_injected_envelope_is_refused_before_anything_is_sent(
    envelope_from: str, recipients: list[str], field: str, smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    with SmtpTransport().open(make_account(smtp_server.plain_port), None) as session:
        with pytest.raises(HeaderInjectionError) as caught:
            session.send(envelope_from, recipients, b"Subject: x\r\n\r\ny\r\n")
        assert caught.value.field == field
        with pytest.raises(HeaderInjectionError, match="MAIL FROM parameter"):
            session.send("a@example.test", ["b@example.test"], b"x\r\n", mail_options=["SIZE=1\r\nRSET"])
        assert session.alive()
    assert smtp_server.sessions[0].commands() == ["EHLO", "NOOP", "QUIT"]


def test_injected_ehlo_name_is_refused_before_connecting(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    account = make_account(smtp_server.plain_port, ehlo_name="me.example\r\nMAIL FROM:<evil@example.org>")
    with pytest.raises(HeaderInjectionError) as caught:
        SmtpTransport().open(account, None)
    assert caught.value.field == "accounts.support.send.ehlo_name"
    assert smtp_server.sessions == []


def test_non_ascii_envelope_without_smtputf8_is_refused_clearly(
    scripted_server: object, make_account: MakeAccount
) -> None:
    from mailconduit import MessageError
    from mailconduit.testing import Expect, Send

    server = scripted_server(  # type: ignore[operator]
        [
            Send(b"220 old\r\n"),
            Expect(rb"^EHLO"),
            Send(b"250-old\r\n250 8BITMIME\r\n"),
            Expect(rb"^QUIT"),
            Send(b"221 bye\r\n"),
        ]
    )
    with SmtpTransport().open(make_account(server.port), None) as session:
        with pytest.raises(MessageError, match="SMTPUTF8"):
            session.send("a@example.test", ["j\u00f6rg@example.test"], b"Subject: x\r\n\r\ny\r\n")
        with pytest.raises(MessageError, match="SMTPUTF8"):
            session.send("a@example.test", ["b@example.test"], "Subject: \u00e4\r\n\r\ny\r\n".encode())


def test_8bit_body_without_8bitmime_is_refused_clearly(
    scripted_server: object, make_account: MakeAccount
) -> None:
    from mailconduit import MessageError
    from mailconduit.testing import Expect, Send

    server = scripted_server(  # type: ignore[operator]
        [
            Send(b"220 old\r\n"),
            Expect(rb"^EHLO"),
            Send(b"250 old\r\n"),
            Expect(rb"^QUIT"),
            Send(b"221 bye\r\n"),
        ]
    )
    with (
        SmtpTransport().open(make_account(server.port), None) as session,
        pytest.raises(MessageError, match="8BITMIME"),
    ):
        session.send("a@example.test", ["b@example.test"], "Subject: x\r\n\r\n\u00e4\r\n".encode())
