"""The SMTP fixture over real SMTP: plain, STARTTLS and implicit TLS, AUTH, byte-exact recording."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from mailconduit.testing import SmtpServer

pytestmark = pytest.mark.servers

RAW = (
    b"From: sender@example.test\r\nTo: rcpt@example.test\r\nSubject: harness\r\n\r\n"
    b".a line starting with a dot\r\nUTF-8 \xc3\xa9\r\n"
)


def test_plain_auth_plain_and_message_recorded_byte_exact(smtp_server: SmtpServer) -> None:
    user = smtp_server.add_user()
    with smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=10) as client:
        client.ehlo()
        assert "starttls" not in client.esmtp_features
        client.login(user.name, user.password)  # AUTH PLAIN is tried first
        assert client.sendmail("sender@example.test", ["rcpt@example.test", "cc@example.test"], RAW) == {}
    (mail,) = smtp_server.messages
    assert mail.data == RAW
    assert (mail.mail_from, mail.rcpt_tos) == (
        "sender@example.test",
        ("rcpt@example.test", "cc@example.test"),
    )
    assert (mail.listener, mail.auth_user, mail.tls) == ("plain", user.name, False)
    session = smtp_server.sessions[0]
    assert session.commands() == ["EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    assert b"..a line starting with a dot\r\n" in session.received()  # dot-stuffed on the wire
    assert session.replies()[0].startswith(b"220 ")


def test_bad_password_is_refused(smtp_server: SmtpServer) -> None:
    user = smtp_server.add_user()
    with (
        smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=10) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        client.login(user.name, user.password + "-wrong")
    assert refused.value.smtp_code == 535
    assert smtp_server.messages == []


def test_starttls_required_then_auth_after_second_ehlo(
    smtp_server: SmtpServer, client_ssl_context: ssl.SSLContext
) -> None:
    user = smtp_server.add_user()
    with smtplib.SMTP(smtp_server.host, smtp_server.starttls_port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls") and not client.has_extn("auth")
        code, _ = client.mail("sender@example.test")
        assert code == 530  # STARTTLS first
        client.starttls(context=client_ssl_context)
        client.ehlo()
        assert client.has_extn("auth")
        client.login(user.name, user.password)
        client.sendmail("sender@example.test", ["rcpt@example.test"], RAW)
    (mail,) = smtp_server.messages
    assert (mail.data, mail.listener, mail.tls, mail.auth_user) == (RAW, "starttls", True, user.name)
    assert smtp_server.sessions[0].commands()[:4] == ["EHLO", "MAIL", "STARTTLS", "EHLO"]


def test_implicit_tls_offers_auth(smtp_server: SmtpServer, client_ssl_context: ssl.SSLContext) -> None:
    user = smtp_server.add_user()
    with smtplib.SMTP_SSL(
        smtp_server.host, smtp_server.tls_port, context=client_ssl_context, timeout=10
    ) as c:
        c.ehlo()
        assert c.has_extn("auth")
        c.login(user.name, user.password)
        c.sendmail("sender@example.test", ["rcpt@example.test"], RAW)
    (mail,) = smtp_server.messages
    assert (mail.data, mail.listener, mail.tls, mail.auth_user) == (RAW, "tls", True, user.name)


@pytest.mark.parametrize("listener", ["starttls", "tls"])
def test_client_without_the_ca_is_refused(smtp_server: SmtpServer, listener: str) -> None:
    system_only = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        if listener == "starttls":
            with smtplib.SMTP(smtp_server.host, smtp_server.starttls_port, timeout=10) as client:
                client.starttls(context=system_only)
        else:
            smtplib.SMTP_SSL(smtp_server.host, smtp_server.tls_port, context=system_only, timeout=10)


def test_injected_replies_and_dropped_data(smtp_server: SmtpServer) -> None:
    smtp_server.inject("RCPT", "550 5.1.1 no such user", match="nobody@")
    smtp_server.inject("MAIL", "451 4.3.0 try again later")
    with smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=10) as client:
        client.ehlo()
        assert client.mail("sender@example.test")[0] == 451
        client.rset()
        refused = client.sendmail("sender@example.test", ["rcpt@example.test", "nobody@example.test"], RAW)
        assert refused == {"nobody@example.test": (550, b"5.1.1 no such user")}
    smtp_server.inject("DATA", None)
    with (
        smtplib.SMTP(smtp_server.host, smtp_server.plain_port, timeout=10) as client,
        pytest.raises(smtplib.SMTPServerDisconnected),
    ):
        client.sendmail("sender@example.test", ["rcpt@example.test"], RAW)
    first, dropped = smtp_server.messages
    assert first.rcpt_tos == ("rcpt@example.test",)
    assert (dropped.data, dropped.reply) == (RAW, None)
