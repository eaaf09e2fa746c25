"""`mailconduit check ACCOUNT` against a real aiosmtpd: what the server offers, or a clear diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mailconduit.testing import SmtpServer, canary, issue_server_cert

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


def test_check_diagnoses_a_host_name_mismatch(tmp_path: Path, test_ca: object) -> None:
    cert = issue_server_cert(test_ca, tmp_path, "wrong_host")  # type: ignore[arg-type]
    server = SmtpServer(cert).start()
    try:
        user = server.add_user()
        ca_pem = tmp_path / "ca.pem"
        test_ca.cert_pem.write_to_path(str(ca_pem))  # type: ignore[attr-defined]
        result = _run(tmp_path, ca_pem, server, user.name, user.password)
    finally:
        server.stop()
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)["send"]
    assert report["problem"] == "tls_name_mismatch", report
    assert "127.0.0.1" in report["diagnosis"]
