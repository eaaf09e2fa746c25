"""H2 (STARTTLS stripping) and H3 (STARTTLS response injection) against a scripted hostile server."""

from __future__ import annotations

from typing import Any

import pytest

from mailconduit import Credentials, ProtocolError, Secret, TlsError, TlsMode
from mailconduit.testing import Expect, Pause, Send, StartTls, canary
from mailconduit_smtp import SmtpTransport

from .conftest import MakeAccount

GREETING = Send(b"220 fake.example.test ESMTP\r\n")


@pytest.fixture
def credentials() -> Credentials:
    return Credentials(kind="password", username="alice", secret=Secret(canary("password")))


def assert_nothing_sensitive_sent(server: Any) -> None:
    server.wait_for_connections(1)
    verbs = [line.split(b" ", 1)[0].strip().upper() for line in server.received]
    assert b"AUTH" not in verbs and b"MAIL" not in verbs, verbs


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(
            [GREETING, Expect(rb"^EHLO"), Send(b"250-fake\r\n250 AUTH PLAIN LOGIN\r\n")], id="not-offered"
        ),
        pytest.param(
            [
                GREETING,
                Expect(rb"^EHLO"),
                Send(b"250-fake\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"),
                Expect(rb"^STARTTLS"),
                Send(b"454 4.7.0 TLS not available due to temporary reason\r\n"),
            ],
            id="454",
        ),
        pytest.param(
            [GREETING, Expect(rb"^EHLO"), Send(b"500 what\r\n"), Expect(rb"^HELO"), Send(b"250 fake\r\n")],
            id="helo-only",
        ),
    ],
)
def test_stripping_is_a_tls_error_without_plaintext_auth(
    script: list[Any], scripted_server: Any, make_account: MakeAccount, credentials: Credentials
) -> None:
    server = scripted_server(script)
    with pytest.raises(TlsError) as caught:
        SmtpTransport().open(make_account(server.port, TlsMode.STARTTLS), credentials)
    assert "STARTTLS" in str(caught.value) and "plaintext" in str(caught.value)
    assert_nothing_sensitive_sent(server)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(
            [Send(b"220 Ready to start TLS\r\n250-injected\r\n250 AUTH PLAIN\r\n")], id="same-packet"
        ),
        pytest.param(
            [Send(b"220 Ready to start TLS\r\n"), Pause(0.2), Send(b"250 injected\r\n")], id="later-packet"
        ),
    ],
)
def test_injected_response_after_220_is_never_acted_on(
    reply: list[Any], scripted_server: Any, make_account: MakeAccount, credentials: Credentials
) -> None:
    server = scripted_server(
        [
            GREETING,
            Expect(rb"^EHLO"),
            Send(b"250-fake\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"),
            Expect(rb"^STARTTLS"),
            *reply,
            StartTls(),
            Expect(rb"^EHLO"),
            Send(b"250 AUTH PLAIN\r\n"),
        ]
    )
    with pytest.raises((ProtocolError, TlsError)) as caught:
        SmtpTransport().open(make_account(server.port, TlsMode.STARTTLS), credentials)
    assert "127.0.0.1" in str(caught.value)
    assert_nothing_sensitive_sent(server)
    # the client never got as far as a second EHLO: nothing after STARTTLS was accepted as a reply
    assert server.received[-1].startswith(b"STARTTLS") or b"\x16\x03" in server.received[-1]


def test_same_packet_injection_is_reported_as_injection(
    scripted_server: Any, make_account: MakeAccount, credentials: Credentials
) -> None:
    server = scripted_server(
        [
            GREETING,
            Expect(rb"^EHLO"),
            Send(b"250-fake\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"),
            Expect(rb"^STARTTLS"),
            Send(b"220 Ready to start TLS\r\n250 injected\r\n"),
            StartTls(),
        ]
    )
    with pytest.raises(ProtocolError, match="response injection"):
        SmtpTransport().open(make_account(server.port, TlsMode.STARTTLS), credentials)
