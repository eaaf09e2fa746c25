"""H1 for SMTP: certificates and host names are verified on implicit TLS and STARTTLS; opt-out is warned."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from mailconduit import TlsError, TlsMode
from mailconduit.testing import Expect, Send, SmtpServer, StartTls, issue_server_cert
from mailconduit_smtp import SmtpTransport

from .conftest import MakeAccount

GREETING = Send(b"220 fake.example.test ESMTP\r\n")
EHLO_STARTTLS = Send(b"250-fake.example.test\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n")

REASONS = {
    "wrong_host": "address mismatch, certificate is not valid for",
    "expired": "certificate has expired",
    "self_signed": "self-signed certificate",
    "unknown_ca": "unable to get local issuer certificate",
}


@pytest.mark.parametrize("kind", list(REASONS))
@pytest.mark.parametrize("tls", [TlsMode.TLS, TlsMode.STARTTLS])
def test_bad_certificates_are_refused_with_host_and_reason(
    kind: str,
    tls: TlsMode,
    test_ca: Any,
    tmp_path: Path,
    scripted_server: Any,
    make_account: MakeAccount,
) -> None:
    cert = issue_server_cert(test_ca, tmp_path, kind)  # type: ignore[arg-type]
    if tls is TlsMode.TLS:
        server = scripted_server([GREETING, Expect(rb"^EHLO")], tls=True, cert=cert)
    else:
        server = scripted_server(
            [
                GREETING,
                Expect(rb"^EHLO"),
                EHLO_STARTTLS,
                Expect(rb"^STARTTLS"),
                Send(b"220 go ahead\r\n"),
                StartTls(),
            ],
            cert=cert,
        )
    with pytest.raises(TlsError) as caught:
        SmtpTransport().open(make_account(server.port, tls), None)
    message = str(caught.value)
    assert "127.0.0.1" in message and REASONS[kind] in message
    assert caught.value.temporary is False
    server.wait_for_connections(1)
    assert not any(line.startswith((b"AUTH", b"MAIL")) for line in server.received)


@pytest.mark.parametrize("tls", [TlsMode.TLS, TlsMode.STARTTLS])
def test_system_trust_alone_does_not_trust_the_test_ca(
    tls: TlsMode, smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    port = smtp_server.tls_port if tls is TlsMode.TLS else smtp_server.starttls_port
    with pytest.raises(TlsError, match="unable to get local issuer certificate"):
        SmtpTransport().open(make_account(port, tls, ca_file=None), None)


@pytest.mark.parametrize("tls", [TlsMode.TLS, TlsMode.STARTTLS])
def test_opt_out_connects_and_warns(
    tls: TlsMode, smtp_server: SmtpServer, make_account: MakeAccount, caplog: pytest.LogCaptureFixture
) -> None:
    port = smtp_server.tls_port if tls is TlsMode.TLS else smtp_server.starttls_port
    account = make_account(port, tls, ca_file=None, check_server_identity=False)
    with caplog.at_level(logging.WARNING, logger="mailconduit.tls"):
        for _ in range(2):
            with SmtpTransport().open(account, None) as session:
                session.send("support@example.test", ["a@example.test"], b"Subject: x\r\n\r\ny\r\n")
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "checks are OFF" in r.getMessage()
    ]
    assert len(warnings) == 2  # on every connect
    assert "'support'" in warnings[0].getMessage() and "127.0.0.1" in warnings[0].getMessage()
    assert all(m.tls for m in smtp_server.messages)


def test_wrong_tls_mode_for_the_port_is_a_clear_tls_error(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    with pytest.raises(TlsError, match="tls mode") as caught:
        SmtpTransport().open(make_account(smtp_server.plain_port, TlsMode.TLS, timeout=5), None)
    assert "127.0.0.1" in str(caught.value)
