"""H1-H3 for POP3: certificates verified on POP3S and STLS, STLS stripping refused, injection dropped."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from mailconduit import AuthenticationError, Credentials, Secret, TlsError, TlsMode
from mailconduit.testing import DovecotServer, Expect, Pause, Send, StartTls, canary, issue_server_cert
from mailconduit_pop3 import Pop3Transport

from .conftest import MakeAccount

GREETING = Send(b"+OK fake POP3 ready\r\n")
CAPS_STLS = Send(b"+OK\r\nUSER\r\nUIDL\r\nSTLS\r\nSASL PLAIN\r\n.\r\n")
REASONS = {
    "wrong_host": "certificate is not valid for",
    "expired": "certificate has expired",
    "self_signed": "self-signed certificate",
    "unknown_ca": "unable to get local issuer certificate",
}


@pytest.fixture
def credentials() -> Credentials:
    return Credentials(kind="password", username="alice", secret=Secret(canary("password")))


def assert_no_login_sent(server: Any) -> None:
    server.wait_for_connections(1)
    verbs = [line.split(b" ", 1)[0].strip().upper() for line in server.received]
    assert not {b"USER", b"PASS", b"AUTH"} & set(verbs), verbs


@pytest.mark.parametrize("kind", list(REASONS))
@pytest.mark.parametrize("tls", [TlsMode.TLS, TlsMode.STARTTLS])
def test_bad_certificates_are_refused_with_host_and_reason(
    kind: str,
    tls: TlsMode,
    test_ca: Any,
    tmp_path: Path,
    scripted_server: Any,
    make_account: MakeAccount,
    credentials: Credentials,
) -> None:
    cert = issue_server_cert(test_ca, tmp_path, kind)  # type: ignore[arg-type]
    if tls is TlsMode.TLS:
        server = scripted_server([GREETING, Expect(rb"^CAPA")], tls=True, cert=cert)
    else:
        script = [GREETING, Expect(rb"^CAPA"), CAPS_STLS, Expect(rb"^STLS"), Send(b"+OK go\r\n"), StartTls()]
        server = scripted_server(script, cert=cert)
    with pytest.raises(TlsError) as caught:
        Pop3Transport().open(make_account(server.port, tls), credentials)
    message = str(caught.value)
    assert "127.0.0.1" in message and REASONS[kind] in message and "account 'inbox'" in message
    assert caught.value.temporary is False
    assert_no_login_sent(server)


@pytest.mark.parametrize("tls", [TlsMode.TLS, TlsMode.STARTTLS])
def test_dovecot_is_refused_without_its_ca(
    tls: TlsMode, dovecot: DovecotServer, make_account: MakeAccount, credentials: Credentials
) -> None:
    port = dovecot.pop3s_port if tls is TlsMode.TLS else dovecot.pop3_port
    with pytest.raises(TlsError, match="unable to get local issuer certificate"):
        Pop3Transport().open(make_account(port, tls, ca_file=None), credentials)


def test_opting_out_connects_and_warns_on_every_connect(
    test_ca: Any,
    tmp_path: Path,
    scripted_server: Any,
    make_account: MakeAccount,
    credentials: Credentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cert = issue_server_cert(test_ca, tmp_path, "self_signed")
    script = [
        GREETING,
        Expect(rb"^CAPA"),
        Send(b"-ERR no CAPA\r\n"),
        Expect(rb"^USER"),
        Send(b"+OK\r\n"),
        Expect(rb"^PASS"),
        Send(b"+OK\r\n"),
        Expect(rb"^CAPA"),
        Send(b"-ERR no CAPA\r\n"),
        Expect(rb"^QUIT"),
        Send(b"+OK\r\n"),
    ]
    server = scripted_server(script, tls=True, cert=cert)
    with caplog.at_level(logging.WARNING, logger="mailconduit.tls"):
        Pop3Transport().open(
            make_account(server.port, TlsMode.TLS, check_server_identity=False), credentials
        ).close()
    assert any("checks are OFF" in r.getMessage() and "'inbox'" in r.getMessage() for r in caplog.records)
    server.wait_for_connections(1)
    assert server.errors == []


@pytest.mark.parametrize(
    "script",
    [
        pytest.param([GREETING, Expect(rb"^CAPA"), Send(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n")], id="not-offered"),
        pytest.param([GREETING, Expect(rb"^CAPA"), Send(b"-ERR what\r\n")], id="no-capa"),
        pytest.param(
            [GREETING, Expect(rb"^CAPA"), CAPS_STLS, Expect(rb"^STLS"), Send(b"-ERR TLS not available\r\n")],
            id="refused",
        ),
    ],
)
def test_stls_stripping_is_a_tls_error_without_plaintext_login(
    script: list[Any], scripted_server: Any, make_account: MakeAccount, credentials: Credentials
) -> None:
    server = scripted_server(script)
    with pytest.raises(TlsError) as caught:
        Pop3Transport().open(make_account(server.port, TlsMode.STARTTLS), credentials)
    assert "STLS" in str(caught.value) and "plaintext" in str(caught.value)
    assert_no_login_sent(server)


INJECTED = b"+OK\r\nUSER\r\nUIDL\r\n.\r\n+OK\r\n+OK logged in\r\n+OK\r\nUIDL\r\n.\r\n"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param([Send(b"+OK Begin TLS\r\n" + INJECTED)], id="same-packet"),
        pytest.param([Send(b"+OK Begin TLS\r\n"), Pause(0.2), Send(INJECTED)], id="later-packet"),
    ],
)
def test_injected_replies_before_the_handshake_are_never_acted_on(
    reply: list[Any], scripted_server: Any, make_account: MakeAccount, credentials: Credentials
) -> None:
    """A fake CAPA and login success pipelined in plaintext: the login must still meet the real ``-ERR``."""
    server = scripted_server(
        [
            GREETING,
            Expect(rb"^CAPA"),
            CAPS_STLS,
            Expect(rb"^STLS"),
            *reply,
            StartTls(),
            Expect(rb"^CAPA"),
            Send(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n"),
            Expect(rb"^USER"),
            Send(b"-ERR [AUTH] who are you\r\n"),
        ]
    )
    with pytest.raises((AuthenticationError, TlsError)) as caught:
        Pop3Transport().open(make_account(server.port, TlsMode.STARTTLS), credentials)
    if isinstance(caught.value, AuthenticationError):
        assert "who are you" in str(caught.value)
    server.wait_for_connections(1)
    assert not any(line.startswith(b"PASS") for line in server.received)
