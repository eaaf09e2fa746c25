"""C1/C2 at the transport level: temporary and permanent replies, per-recipient refusals, dropped links."""

from __future__ import annotations

import pytest

from mailconduit import ServerReplyError, TransportError
from mailconduit.testing import SmtpServer
from mailconduit_smtp import SmtpTransport

from .conftest import MakeAccount

MESSAGE = b"Subject: retry\r\n\r\nbody\r\n"
FROM = "support@example.test"


def test_451_twice_then_250_is_two_temporary_errors_then_success(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    """What the outbox builds retries on: each attempt's failure is temporary and quotes the reply."""
    smtp_server.inject("DATA", "451 4.3.0 try again later", times=2)
    account = make_account(smtp_server.plain_port)
    outcomes = []
    for _attempt in range(3):
        with SmtpTransport().open(account, None) as session:
            try:
                session.send(FROM, ["a@example.test"], MESSAGE)
                outcomes.append("sent")
            except ServerReplyError as exc:
                outcomes.append((exc.code, exc.temporary, exc.reply))
    assert outcomes == [
        (451, True, "451 4.3.0 try again later"),
        (451, True, "451 4.3.0 try again later"),
        "sent",
    ]
    assert [m.reply for m in smtp_server.messages][-1].startswith("250")


@pytest.mark.parametrize("stage", ["MAIL", "DATA"])
@pytest.mark.parametrize("code", [550, 552, 553, 554])
def test_permanent_codes_are_permanent(
    stage: str, code: int, smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    smtp_server.inject(stage, f"{code} 5.7.1 refused by policy")  # type: ignore[arg-type]
    with SmtpTransport().open(make_account(smtp_server.plain_port), None) as session:
        with pytest.raises(ServerReplyError) as caught:
            session.send(FROM, ["a@example.test"], MESSAGE)
        assert caught.value.code == code and caught.value.temporary is False
        assert f"{code} 5.7.1 refused by policy" in str(caught.value)
        session.send(FROM, ["a@example.test"], MESSAGE)  # the session is still usable
    assert smtp_server.messages[-1].reply is not None and smtp_server.messages[-1].reply.startswith("250")


@pytest.mark.parametrize("code", [421, 450, 451, 452])
def test_temporary_codes_at_mail_are_temporary(
    code: int, smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    smtp_server.inject("MAIL", f"{code} 4.3.2 busy")
    with SmtpTransport().open(make_account(smtp_server.plain_port), None) as session:
        with pytest.raises(ServerReplyError) as caught:
            session.send(FROM, ["a@example.test"], MESSAGE)
        assert caught.value.temporary is True and caught.value.code == code
        assert session.is_open is (code != 421)  # 421: the server is closing the session


def test_refused_recipient_is_recorded_and_the_others_get_the_message(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    smtp_server.inject("RCPT", "550 5.1.1 no such user", match="gone@")
    smtp_server.inject("RCPT", "452 4.2.2 mailbox full", match="full@")
    with SmtpTransport().open(make_account(smtp_server.plain_port), None) as session:
        result = session.send(FROM, ["a@example.test", "gone@example.test", "full@example.test"], MESSAGE)
    by_address = {r.address: r for r in result.recipients}
    assert by_address["a@example.test"].accepted
    assert (by_address["gone@example.test"].code, by_address["gone@example.test"].reply) == (
        550,
        "550 5.1.1 no such user",
    )
    assert by_address["full@example.test"].code == 452 and not by_address["full@example.test"].accepted
    assert [r.address for r in result.refused] == ["gone@example.test", "full@example.test"]
    assert smtp_server.messages[0].rcpt_tos == ("a@example.test",)


@pytest.mark.parametrize(("codes", "temporary"), [((550, 553), False), ((550, 451), True)])
def test_all_recipients_refused_raises_with_the_class_of_the_replies(
    codes: tuple[int, int], temporary: bool, smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    smtp_server.inject("RCPT", f"{codes[0]} refused one", match="one@")
    smtp_server.inject("RCPT", f"{codes[1]} refused two", match="two@")
    with SmtpTransport().open(make_account(smtp_server.plain_port), None) as session:
        with pytest.raises(ServerReplyError) as caught:
            session.send(FROM, ["one@example.test", "two@example.test"], MESSAGE)
        assert caught.value.temporary is temporary
        assert "one@example.test" in str(caught.value) and "two@example.test" in str(caught.value)
        session.send(FROM, ["three@example.test"], MESSAGE)
    assert "DATA" not in smtp_server.sessions[0].commands()[:5]
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
def test_dropped_connection_is_a_temporary_transport_error(
    stage: str, smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    smtp_server.inject(stage, None)  # type: ignore[arg-type]
    session = SmtpTransport().open(make_account(smtp_server.plain_port), None)
    with pytest.raises(TransportError) as caught:
        session.send(FROM, ["a@example.test"], MESSAGE)
    assert type(caught.value) is TransportError and caught.value.temporary is True
    assert "connection lost" in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert not session.is_open
    with pytest.raises(TransportError, match="session is closed"):
        session.send(FROM, ["a@example.test"], MESSAGE)
    session.close()
    session.close()


def test_refusing_ehlo_and_greeting(smtp_server: SmtpServer, make_account: MakeAccount) -> None:
    smtp_server.inject("EHLO", "421 4.3.2 too many connections")
    with pytest.raises(ServerReplyError) as caught:
        SmtpTransport().open(make_account(smtp_server.plain_port), None)
    assert caught.value.code == 421 and caught.value.temporary is True


def test_alive_and_close(smtp_server: SmtpServer, make_account: MakeAccount) -> None:
    session = SmtpTransport().open(make_account(smtp_server.plain_port), None)
    assert session.alive()
    session.close()
    assert not session.alive()
    assert smtp_server.sessions[0].commands()[-2:] == ["NOOP", "QUIT"]
