"""probe(): what `mailconduit check ACCOUNT` will show: the server's offer, or a clear diagnosis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailconduit import Credentials, Secret, TlsMode
from mailconduit.testing import Pause, SmtpServer, canary, free_port, issue_server_cert
from mailconduit_smtp import PROBLEMS, probe

from .conftest import MakeAccount


def test_probe_reports_what_the_server_offers(
    smtp_server: SmtpServer, smtp_user: Credentials, make_account: MakeAccount
) -> None:
    report = probe(make_account(smtp_server.starttls_port, TlsMode.STARTTLS), smtp_user)
    assert report["ok"] is True and report["authenticated"] is True and report["mechanism"] == "PLAIN"
    assert report["tls"] == "starttls" and report["port"] == smtp_server.starttls_port
    assert report["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert {"PLAIN", "LOGIN"} <= set(report["auth_mechanisms"])
    assert "smtputf8" in report["extensions"] and "starttls" not in report["extensions"]  # after STARTTLS
    assert report["certificate_issuer"] and report["greeting"].startswith("220")
    assert smtp_server.messages == []  # nothing sent
    assert smtp_server.sessions[0].commands()[-1] == "QUIT"


def test_probe_without_credentials_does_not_log_in(
    smtp_server: SmtpServer, make_account: MakeAccount
) -> None:
    report = probe(make_account(smtp_server.plain_port), None)
    assert report["ok"] is True and report["authenticated"] is False and "tls_version" not in report


def test_probe_diagnoses_auth_rejected(smtp_server: SmtpServer, make_account: MakeAccount) -> None:
    secret = canary("password")
    bad = Credentials(kind="password", username="nobody", secret=Secret(secret))
    report = probe(make_account(smtp_server.tls_port, TlsMode.TLS), bad)
    assert report["ok"] is False and report["problem"] == "auth_rejected"
    assert "535" in report["diagnosis"] and secret not in repr(report)
    assert report["tls_version"]  # it got as far as TLS, and says so


def test_probe_diagnoses_refused_connection(make_account: MakeAccount) -> None:
    report = probe(make_account(free_port()), None)
    assert report["problem"] == "refused" and report["explanation"] == PROBLEMS["refused"]
    assert "connection refused" in report["diagnosis"]


@pytest.mark.parametrize(
    ("kind", "problem"),
    [("wrong_host", "tls_name_mismatch"), ("expired", "tls_expired"), ("unknown_ca", "tls_untrusted")],
)
def test_probe_diagnoses_certificate_problems(
    kind: str, problem: str, test_ca: Any, tmp_path: Path, scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server([Pause(5)], tls=True, cert=issue_server_cert(test_ca, tmp_path, kind))  # type: ignore[arg-type]
    report = probe(make_account(server.port, TlsMode.TLS), None)
    assert report["problem"] == problem and "127.0.0.1" in report["diagnosis"]


def test_probe_diagnoses_timeout(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server([Pause(30)])
    report = probe(make_account(server.port, timeout=2), None)
    assert report["problem"] == "timeout" and "2 s" in report["diagnosis"]


def test_probe_diagnoses_stripped_starttls(scripted_server: Any, make_account: MakeAccount) -> None:
    from mailconduit.testing import Expect, Send

    server = scripted_server([Send(b"220 x\r\n"), Expect(rb"^EHLO"), Send(b"250 x\r\n")])
    report = probe(make_account(server.port, TlsMode.STARTTLS), None)
    assert report["problem"] == "tls_failed" and "STARTTLS" in report["diagnosis"]
