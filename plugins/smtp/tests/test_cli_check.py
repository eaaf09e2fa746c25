"""`mailconduit check ACCOUNT` against a real aiosmtpd: what the server offers, or a clear diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailconduit.testing import CertFiles, SmtpServer, canary, issue_server_cert

CONFIG = """
accounts:
  support:
    email: support@example.test
    ca_file: {ca}
    auth:
      method: password
      username: {user}
      password: ${{env:MC_CHECK_PW}}
    send: {{protocol: smtp, host: {host}, port: {port}, tls: starttls, timeout: 5s}}
"""


def _run(tmp_path: Path, ca_pem: Path, server: SmtpServer, user: str, password: str, host: str = "127.0.0.1"):
    from mailconduit._cli import cli

    config = tmp_path / "mailconduit.yaml"
    config.write_text(CONFIG.format(ca=ca_pem, user=user, host=host, port=server.starttls_port))
    return CliRunner().invoke(
        cli, ["--config", str(config), "check", "support", "--json"], env={"MC_CHECK_PW": password}
    )


def test_check_reports_tls_and_login(tmp_path: Path, ca_pem: Path, smtp_server: SmtpServer) -> None:
    user = smtp_server.add_user()
    result = _run(tmp_path, ca_pem, smtp_server, user.name, user.password)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["send"]
    assert report["ok"] and report["authenticated"]
    assert report["tls_version"].startswith("TLS")
    assert user.password not in result.output


def test_check_diagnoses_a_rejected_password(tmp_path: Path, ca_pem: Path, smtp_server: SmtpServer) -> None:
    user = smtp_server.add_user()
    wrong = canary("password")
    result = _run(tmp_path, ca_pem, smtp_server, user.name, wrong)
    assert result.exit_code == 1
    report = json.loads(result.output)["send"]
    assert report["problem"] == "auth_rejected"
    assert wrong not in result.output


def test_check_diagnoses_a_host_name_mismatch(
    tmp_path: Path, ca_pem: Path, smtp_server: SmtpServer, server_cert: CertFiles
) -> None:
    user = smtp_server.add_user()
    result = _run(tmp_path, ca_pem, smtp_server, user.name, user.password, host="127.0.0.2")
    if result.exit_code == 1 and "refused" in result.output:
        pytest.skip("127.0.0.2 is not routed to the loopback listener here")
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["send"]["problem"] in {"tls_name_mismatch", "refused"}
    del issue_server_cert
