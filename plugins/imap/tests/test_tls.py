"""H1 (verification on IMAPS and STARTTLS), H2 (STARTTLS stripping), H3 (STARTTLS response injection)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from mailconduit import Credentials, ProtocolError, Secret, TlsError, TlsMode
from mailconduit.testing import DovecotServer, Expect, Pause, Send, StartTls, issue_server_cert
from mailconduit_imap import ImapTransport

from .conftest import MakeAccount

GREETING = Send(b"* OK fake ready\r\n")
CAPS_STARTTLS = [
    Expect(rb"CAPABILITY"),
    Send(b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\n{tag} OK done\r\n"),
]
REASONS = {
    "wrong_host": "address mismatch, certificate is not valid for",
    "expired": "certificate has expired",
    "self_signed": "self-signed certificate",
    "unknown_ca": "unable to get local issuer certificate",
}


@pytest.fixture
def alice() -> Credentials:
    return Credentials(kind="password", username="alice", secret=Secret("pw"))


def assert_no_login(server: Any) -> None:
    server.wait_for_connections(1)
    for line in server.received:
        assert b"LOGIN" not in line and b"AUTHENTICATE" not in line, server.received


@pytest.mark.parametrize("kind", list(REASONS))
@pytest.mark.parametrize("tls", [TlsMode.TLS, TlsMode.STARTTLS])
def test_bad_certificates_are_refused_with_host_and_reason(
    kind: str,
    tls: TlsMode,
    test_ca: Any,
    tmp_path: Path,
    scripted_server: Any,
    make_account: MakeAccount,
    alice: Credentials,
) -> None:
    cert = issue_server_cert(test_ca, tmp_path, kind)  # type: ignore[arg-type]
    if tls is TlsMode.TLS:
        server = scripted_server([GREETING, Expect()], tls=True, cert=cert)
    else:
        server = scripted_server(
            [GREETING, *CAPS_STARTTLS, Expect(rb"STARTTLS"), Send(b"{tag} OK Begin TLS\r\n"), StartTls()],
            cert=cert,
        )
    with pytest.raises(TlsError) as caught:
        ImapTransport().open(make_account(server.port, tls), alice)
    message = str(caught.value)
    assert "127.0.0.1" in message and REASONS[kind] in message and "'support'" in message
    assert caught.value.temporary is False
    assert_no_login(server)


@pytest.mark.parametrize("tls", [TlsMode.TLS, TlsMode.STARTTLS])
def test_system_trust_alone_does_not_trust_the_test_ca(
    tls: TlsMode, dovecot: DovecotServer, make_account: MakeAccount, alice: Credentials
) -> None:
    port = dovecot.imaps_port if tls is TlsMode.TLS else dovecot.imap_port
    with pytest.raises(TlsError, match="unable to get local issuer certificate"):
        ImapTransport().open(make_account(port, tls, ca_file=None), alice)


def test_opt_out_connects_and_warns(
    dovecot: DovecotServer,
    make_account: MakeAccount,
    user_credentials: Credentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    account = make_account(dovecot.imaps_port, TlsMode.TLS, ca_file=None, check_server_identity=False)
    with caplog.at_level(logging.WARNING, logger="mailconduit.tls"):
        mailbox = ImapTransport().open(account, user_credentials)
        assert mailbox.state("INBOX").exists == 0
        mailbox.close()
    assert any("checks are OFF" in r.getMessage() and "127.0.0.1" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(
            [
                GREETING,
                Expect(rb"CAPABILITY"),
                Send(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n"),
            ],
            id="not-offered",
        ),
        pytest.param(
            [GREETING, *CAPS_STARTTLS, Expect(rb"STARTTLS"), Send(b"{tag} NO not now\r\n")], id="no"
        ),
        pytest.param([GREETING, *CAPS_STARTTLS, Expect(rb"STARTTLS"), Send(b"{tag} BAD what\r\n")], id="bad"),
        pytest.param(
            [
                Send(b"* PREAUTH hi\r\n"),
                Expect(rb"CAPABILITY"),
                Send(b"* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK done\r\n"),
            ],
            id="preauth",
        ),
    ],
)
def test_stripping_is_a_tls_error_without_plaintext_login(
    script: list[Any], scripted_server: Any, make_account: MakeAccount, alice: Credentials
) -> None:
    server = scripted_server(script)
    with pytest.raises(TlsError) as caught:
        ImapTransport().open(make_account(server.port, TlsMode.STARTTLS), alice)
    assert "STARTTLS" in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert_no_login(server)
    assert not any(line.split()[1:2] == [b"SELECT"] for line in server.received)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(
            [Send(b"{tag} OK Begin TLS\r\n{tag}9 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n")],
            id="same-packet",
        ),
        pytest.param(
            [Send(b"{tag} OK Begin TLS\r\n"), Pause(0.2), Send(b"* CAPABILITY IMAP4rev1 injected\r\n")],
            id="later-packet",
        ),
    ],
)
def test_injected_response_after_begin_tls_is_never_acted_on(
    reply: list[Any], scripted_server: Any, make_account: MakeAccount, alice: Credentials
) -> None:
    server = scripted_server(
        [
            GREETING,
            *CAPS_STARTTLS,
            Expect(rb"STARTTLS"),
            *reply,
            StartTls(),
            *CAPS_STARTTLS,
            Expect(rb"LOGIN"),
        ]
    )
    with pytest.raises((ProtocolError, TlsError)) as caught:
        ImapTransport().open(make_account(server.port, TlsMode.STARTTLS), alice)
    assert "127.0.0.1" in str(caught.value)
    assert_no_login(server)
    assert server.received[-1].split()[1:2] == [b"STARTTLS"] or b"\x16\x03" in server.received[-1]


def test_same_packet_injection_is_reported_as_injection(
    scripted_server: Any, make_account: MakeAccount, alice: Credentials
) -> None:
    server = scripted_server(
        [
            GREETING,
            *CAPS_STARTTLS,
            Expect(rb"STARTTLS"),
            Send(b"{tag} OK Begin TLS\r\n* OK injected\r\n"),
            StartTls(),
        ]
    )
    with pytest.raises(ProtocolError, match="STARTTLS response injection"):
        ImapTransport().open(make_account(server.port, TlsMode.STARTTLS), alice)
