"""Sending through the real aiosmtpd harness: plain, STARTTLS, implicit TLS, byte-exact, reused sessions."""

from __future__ import annotations

import pytest

from mailconduit import Credentials, MessageError, ServerReplyError, TlsMode
from mailconduit.testing import SmtpServer
from mailconduit_smtp import SmtpTransport

from .conftest import MakeAccount

MESSAGE = (
    b"From: support@example.test\r\n"
    b"To: a@example.test\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"\r\n"
    b"Hello.\r\n.dot line\r\n"
)


def port_of(server: SmtpServer, tls: TlsMode) -> int:
    return {
        TlsMode.NONE: server.plain_port,
        TlsMode.STARTTLS: server.starttls_port,
        TlsMode.TLS: server.tls_port,
    }[tls]


@pytest.mark.parametrize("tls", list(TlsMode))
def test_send_arrives_byte_exact(
    tls: TlsMode, smtp_server: SmtpServer, smtp_user: Credentials, make_account: MakeAccount
) -> None:
    account = make_account(port_of(smtp_server, tls), tls)
    session = SmtpTransport().open(account, smtp_user)
    try:
        result = session.send("support@example.test", ["a@example.test", "b@example.test"], MESSAGE)
    finally:
        session.close()
    assert [r.accepted for r in result.recipients] == [True, True]
    assert result.reply.startswith("250 2.0.0 OK queued")
    (mail,) = smtp_server.messages
    assert mail.data == MESSAGE
    assert mail.mail_from == "support@example.test"
    assert mail.rcpt_tos == ("a@example.test", "b@example.test")
    assert mail.auth_user == smtp_user.username
    assert mail.tls is (tls is not TlsMode.NONE)
    (record,) = smtp_server.sessions
    assert record.commands()[-1] == "QUIT"
    if tls is TlsMode.STARTTLS:  # EHLO again after STARTTLS, AUTH only after it
        commands = record.commands()
        assert commands[:3] == ["EHLO", "STARTTLS", "EHLO"]
        assert commands.index("AUTH") > commands.index("STARTTLS")


def test_one_session_sends_many_messages(
    smtp_server: SmtpServer, smtp_user: Credentials, make_account: MakeAccount
) -> None:
    account = make_account(smtp_server.tls_port, TlsMode.TLS)
    messages = [MESSAGE.replace(b"Hello.", f"Hello {n}.".encode()) for n in range(5)]
    with SmtpTransport().open(account, smtp_user) as session:
        for data in messages:
            session.send("support@example.test", ["a@example.test"], data)
        assert session.messages_sent == 5
    assert [m.data for m in smtp_server.messages] == messages
    assert len(smtp_server.sessions) == 1


def test_no_login_without_credentials_and_null_reverse_path(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    account = make_account(smtp_server.plain_port)
    with SmtpTransport().open(account, None) as session:
        session.send("", ["a@example.test"], MESSAGE)  # null reverse path, as a bounce would
    assert smtp_server.messages[0].mail_from in ("", "<>")  # aiosmtpd records the null path as <>
    assert "AUTH" not in smtp_server.sessions[0].commands()


def test_ehlo_name_is_the_configured_one(smtp_server: SmtpServer, make_account: MakeAccount) -> None:
    account = make_account(smtp_server.plain_port, ehlo_name="app1.example.test")
    SmtpTransport().open(account, None).close()
    assert smtp_server.sessions[0].received()[0] == b"EHLO app1.example.test\r\n"


def test_8bit_body_uses_8bitmime_and_utf8_envelope_uses_smtputf8(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    account = make_account(smtp_server.plain_port)
    body8 = "Subject: x\r\n\r\nGr\u00fc\u00dfe\r\n".encode()
    with SmtpTransport().open(account, None) as session:
        session.send("support@example.test", ["a@example.test"], MESSAGE)
        session.send("support@example.test", ["a@example.test"], body8)
        session.send("support@example.test", ["j\u00f6rg@b\u00fccher.example"], MESSAGE)
    plain_mail, eight_bit, utf8 = smtp_server.messages
    assert not any(o.startswith("BODY") or o == "SMTPUTF8" for o in plain_mail.mail_options)
    assert "BODY=8BITMIME" in eight_bit.mail_options and eight_bit.data == body8
    assert "SMTPUTF8" in utf8.mail_options
    assert utf8.rcpt_tos == ("j\u00f6rg@b\u00fccher.example",)
    assert any(o.startswith("SIZE=") for o in plain_mail.mail_options)


def test_extra_mail_parameters_go_on_the_mail_line(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    account = make_account(smtp_server.plain_port)
    with SmtpTransport().open(account, None) as session:
        with pytest.raises(ServerReplyError) as caught:  # aiosmtpd knows no DSN: 555, permanent
            session.send("support@example.test", ["a@example.test"], MESSAGE, mail_options=["ENVID=Q1"])
        assert caught.value.code == 555 and caught.value.temporary is False
        session.send("support@example.test", ["a@example.test"], MESSAGE)  # RSET kept the session usable
    mail_lines = [line for line in smtp_server.sessions[0].received() if line.startswith(b"MAIL")]
    assert mail_lines[0].endswith(b" ENVID=Q1\r\n")
    assert len(smtp_server.messages) == 1


def test_no_recipients_is_refused_before_sending(smtp_server: SmtpServer, make_account: MakeAccount) -> None:
    with (
        SmtpTransport().open(make_account(smtp_server.plain_port), None) as session,
        pytest.raises(MessageError),
    ):
        session.send("support@example.test", [], MESSAGE)
    assert "MAIL" not in smtp_server.sessions[0].commands()
