"""RFC 2920 PIPELINING: one batch of MAIL, RCPTs and DATA when offered, lock-step when not.

The scripted servers answer only after reading the whole batch: a client waiting for the MAIL reply
before sending RCPT would time out (2 s), so a passing test proves the batch. The lock-step tests
refuse MAIL: a client that had pipelined would have sent RCPT next instead of RSET.
aiosmtpd (the ``smtp_server`` harness) does not offer PIPELINING, so every test against it runs
the lock-step path.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailconduit import ServerReplyError, TransportError
from mailconduit.testing import Expect, Send, SmtpServer
from mailconduit_smtp import SmtpTransport
from mailconduit_smtp._framing import frame, frame_message, has_8bit, normalise_line_endings

from .conftest import MakeAccount

pytestmark = pytest.mark.timeout(60)
MESSAGE = b"Subject: p\r\n\r\nbody\r\n"
GREETING = [Send(b"220 fake ready\r\n"), Expect(rb"^EHLO")]
PIPELINING_EHLO = Send(b"250-fake\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n")
PLAIN_EHLO = Send(b"250-fake\r\n250 SIZE 1000000\r\n")
BATCH = [
    Expect(rb"^MAIL FROM:<support@example\.test> SIZE=\d+\r\n$"),
    Expect(rb"^RCPT TO:<a@example\.test>\r\n$"),
    Expect(rb"^RCPT TO:<b@example\.test>\r\n$"),
    Expect(rb"^RCPT TO:<c@example\.test>\r\n$"),
    Expect(rb"^DATA\r\n$"),
]
QUIT = [Expect(rb"^QUIT"), Send(b"221 bye\r\n")]
RECIPIENTS = ["a@example.test", "b@example.test", "c@example.test"]


def test_pipelined_batch_keeps_per_recipient_results(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server(
        [
            *GREETING,
            PIPELINING_EHLO,
            *BATCH,  # all five lines read before any reply is sent
            Send(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n251 2.1.5 forwarded\r\n"),
            Send(b"354 go ahead\r\n"),
            Expect(rb"^Subject: p\r\n$"),
            Expect(rb"^\r\n$"),
            Expect(rb"^body\r\n$"),
            Expect(rb"^\.\r\n$"),
            Send(b"250 2.0.0 queued as X1\r\n"),
            *QUIT,
        ]
    )
    with SmtpTransport().open(make_account(server.port, timeout=2), None) as session:
        result = session.send("support@example.test", RECIPIENTS, MESSAGE)
    (connection,) = server.connections
    assert connection.errors == []
    assert [(r.address, r.accepted, r.code) for r in result.recipients] == [
        ("a@example.test", True, 250),
        ("b@example.test", False, 550),
        ("c@example.test", True, 251),
    ]
    assert result.recipients[1].reply == "550 5.1.1 no such user"
    assert result.reply == "250 2.0.0 queued as X1"


@pytest.mark.parametrize(
    ("replies", "temporary"),
    [
        (b"550 5.1.1 no\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n", False),
        (b"450 4.2.0 busy\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n", True),
    ],
)
def test_pipelined_all_refused_resets_and_the_session_goes_on(
    replies: bytes, temporary: bool, scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server(
        [
            *GREETING,
            PIPELINING_EHLO,
            *BATCH,
            Send(b"250 ok\r\n" + replies + b"554 5.5.1 no valid recipients\r\n"),
            Expect(rb"^RSET\r\n$"),
            Send(b"250 reset\r\n"),
            Expect(rb"^NOOP\r\n$"),
            Send(b"250 ok\r\n"),
            *QUIT,
        ]
    )
    with SmtpTransport().open(make_account(server.port, timeout=2), None) as session:
        with pytest.raises(ServerReplyError, match="every recipient was refused") as caught:
            session.send("support@example.test", RECIPIENTS, MESSAGE)
        assert session.alive()
    assert caught.value.temporary is temporary
    assert caught.value.code == (450 if temporary else 550)
    assert server.connections[0].errors == []


def test_pipelined_354_after_all_refused_sends_an_empty_data_then_resets(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server(
        [
            *GREETING,
            PIPELINING_EHLO,
            *BATCH,
            Send(b"250 ok\r\n550 no\r\n550 no\r\n550 no\r\n354 go ahead anyway\r\n"),
            Expect(rb"^\.\r\n$"),  # the data ends at once: nothing of the message is sent
            Send(b"554 no recipients\r\n"),
            Expect(rb"^RSET\r\n$"),
            Send(b"250 reset\r\n"),
            *QUIT,
        ]
    )
    with SmtpTransport().open(make_account(server.port, timeout=2), None) as session:
        with pytest.raises(ServerReplyError, match="every recipient was refused"):
            session.send("support@example.test", RECIPIENTS, MESSAGE)
        assert session.is_open
    assert server.connections[0].errors == []


@pytest.mark.parametrize(("code", "temporary"), [(451, True), (553, False)])
def test_pipelined_refused_mail_from_is_classified_and_reset(
    code: int, temporary: bool, scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server(
        [
            *GREETING,
            PIPELINING_EHLO,
            *BATCH,
            Send(
                b"%d sender refused\r\n503 need MAIL\r\n503 need MAIL\r\n503 need MAIL\r\n503 no\r\n" % code
            ),
            Expect(rb"^RSET\r\n$"),
            Send(b"250 reset\r\n"),
            *QUIT,
        ]
    )
    with SmtpTransport().open(make_account(server.port, timeout=2), None) as session:
        with pytest.raises(ServerReplyError, match="MAIL FROM refused") as caught:
            session.send("support@example.test", RECIPIENTS, MESSAGE)
        assert session.is_open
    assert (caught.value.code, caught.value.temporary) == (code, temporary)
    assert server.connections[0].errors == []


def test_pipelined_421_ends_the_session(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server(
        [*GREETING, PIPELINING_EHLO, *BATCH, Send(b"250 ok\r\n421 4.3.2 shutting down\r\n")]
    )
    session = SmtpTransport().open(make_account(server.port, timeout=2), None)
    with pytest.raises(ServerReplyError, match="RCPT TO refused: 421") as caught:
        session.send("support@example.test", RECIPIENTS, MESSAGE)
    assert caught.value.temporary is True
    assert not session.is_open
    session.close()


def test_pipelined_silence_after_the_batch_is_a_timeout(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server([*GREETING, PIPELINING_EHLO, *BATCH, Send(b"250 ok\r\n250 ok\r\n")])
    session = SmtpTransport().open(make_account(server.port, timeout=2), None)
    with pytest.raises(TransportError, match="no answer within 2 s during RCPT TO"):
        session.send("support@example.test", RECIPIENTS, MESSAGE)
    assert not session.is_open
    session.close()


def test_without_pipelining_each_command_waits_for_its_reply(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server(
        [
            *GREETING,
            PLAIN_EHLO,
            Expect(rb"^MAIL FROM:"),
            Send(b"451 try later\r\n"),
            Expect(rb"^RSET\r\n$"),  # a pipelining client would have sent RCPT here
            Send(b"250 reset\r\n"),
            Expect(rb"^MAIL FROM:"),
            Send(b"250 ok\r\n"),
            Expect(rb"^RCPT TO:<a@example\.test>"),
            Send(b"550 no such user\r\n"),
            Expect(rb"^RCPT TO:<b@example\.test>"),
            Send(b"250 ok\r\n"),
            Expect(rb"^DATA\r\n$"),
            Send(b"354 go ahead\r\n"),
            Expect(rb"^Subject: p"),
            Expect(rb"^\r\n$"),
            Expect(rb"^body"),
            Expect(rb"^\.\r\n$"),
            Send(b"250 queued\r\n"),
            *QUIT,
        ]
    )
    with SmtpTransport().open(make_account(server.port, timeout=2), None) as session:
        with pytest.raises(ServerReplyError, match="MAIL FROM refused"):
            session.send("support@example.test", RECIPIENTS[:2], MESSAGE)
        result = session.send("support@example.test", RECIPIENTS[:2], MESSAGE)
    assert [r.accepted for r in result.recipients] == [False, True]
    assert server.connections[0].errors == []


def test_aiosmtpd_does_not_offer_pipelining_and_gets_lock_step(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    with SmtpTransport().open(make_account(smtp_server.plain_port), None) as session:
        assert "pipelining" not in session.extensions
        result = session.send("support@example.test", RECIPIENTS[:2], MESSAGE)
    assert [r.accepted for r in result.recipients] == [True, True]
    assert [m.data for m in smtp_server.messages] == [MESSAGE]


def _old_header_has_8bit(data: bytes) -> bool:
    normalised = normalise_line_endings(data)
    if normalised.startswith(b"\r\n"):
        return False
    end = normalised.find(b"\r\n\r\n")
    return has_8bit(normalised if end < 0 else normalised[:end])


@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"a", b"\xc3\xa4", b" "]), max_size=30))
def test_frame_message_answers_like_the_separate_passes(parts: list[bytes]) -> None:
    data = b"".join(parts)
    framed = frame_message(data)
    assert framed.data == frame(data)
    assert framed.has_8bit == has_8bit(data)
    assert framed.header_has_8bit == _old_header_has_8bit(data)
