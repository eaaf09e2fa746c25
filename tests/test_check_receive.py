"""`mailconduit check ACCOUNT` on the receive side, against the harness Dovecot (IMAP and POP3).

The receive transports have no probe of their own, so the check opens the mailbox through the
`Mailbox` protocol: it must report what the server offers, change nothing on it, and say clearly
what is wrong when it fails.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from mailconduit.testing import DovecotServer, MailUser, canary

ACCOUNT = """
accounts:
  inbox:
    email: {address}
    {ca_line}
    auth:
      method: password
      username: {user}
      password: ${{env:MC_CHECK_RECEIVE_PW}}
    receive:
      protocol: {protocol}
      host: 127.0.0.1
      port: {port}
      tls: {tls}
      timeout: 5s
{extra}"""


def _message(n: int) -> bytes:
    return f"From: a@example.test\r\nTo: b@example.test\r\nSubject: check {n}\r\n\r\nbody {n}\r\n".encode()


def _check(
    tmp_path: Path,
    user: MailUser,
    *,
    protocol: str,
    port: int,
    tls: str,
    password: str | None = None,
    ca_pem: Path | None = None,
    extra: str = "",
    as_json: bool = True,
) -> Result:
    from mailconduit._cli import cli

    config = tmp_path / "mailconduit.yaml"
    config.write_text(
        ACCOUNT.format(
            address=user.address,
            ca_line=f"ca_file: {ca_pem}" if ca_pem else "",
            user=user.name,
            protocol=protocol,
            port=port,
            tls=tls,
            extra=extra,
        )
    )
    args = ["--config", str(config), "check", "inbox"] + (["--json"] if as_json else [])
    return CliRunner().invoke(cli, args, env={"MC_CHECK_RECEIVE_PW": password or user.password})


def _receive(result: Result) -> dict[str, Any]:
    report = json.loads(result.output)
    assert "send" not in report
    return report["receive"]


def test_imap_reports_capabilities_and_the_folder_without_changing_it(
    tmp_path: Path, ca_pem: Path, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    dovecot.seed(dovecot_user, [_message(1), _message(2)])
    before = sorted(p.name for p in dovecot.message_files(dovecot_user))
    result = _check(
        tmp_path, dovecot_user, protocol="imap", port=dovecot.imaps_port, tls="tls", ca_pem=ca_pem
    )
    assert result.exit_code == 0, result.output
    report = _receive(result)
    assert report["ok"] and report["authenticated"]
    assert {"idle", "move", "delete", "folders", "uidvalidity"} <= set(report["capabilities"])
    assert report["folder"] == "INBOX" and report["messages"] == 2
    assert isinstance(report["uidvalidity"], int) and report["folders"] >= 1
    # nothing fetched, flagged or moved: the Maildir files keep their names (flags live in them)
    assert sorted(p.name for p in dovecot.message_files(dovecot_user)) == before


def test_imap_starttls_in_text_output(
    tmp_path: Path, ca_pem: Path, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    result = _check(
        tmp_path,
        dovecot_user,
        protocol="imap",
        port=dovecot.imap_port,
        tls="starttls",
        ca_pem=ca_pem,
        as_json=False,
    )
    assert result.exit_code == 0, result.output
    assert "receive: ok" in result.output
    assert "  protocol: imap" in result.output and "  tls: starttls" in result.output
    assert "  capabilities: [" in result.output and "'idle'" in result.output
    assert "  messages: 0" in result.output


def test_pop3_reports_uidl_delete_and_the_message_count(
    tmp_path: Path, ca_pem: Path, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    dovecot.seed(dovecot_user, [_message(1), _message(2), _message(3)])
    result = _check(
        tmp_path,
        dovecot_user,
        protocol="pop3",
        port=dovecot.pop3_port,
        tls="starttls",
        ca_pem=ca_pem,
        extra="      after_replication: delete\n",
    )
    assert result.exit_code == 0, result.output
    report = _receive(result)
    assert report["ok"] and report["capabilities"] == ["delete"]
    assert report["folder"] == "INBOX" and report["messages"] == 3 and report["uidvalidity"] is None
    assert len(dovecot.message_files(dovecot_user)) == 3


def test_pop3_cannot_move_and_says_so(
    tmp_path: Path, ca_pem: Path, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    result = _check(
        tmp_path,
        dovecot_user,
        protocol="pop3",
        port=dovecot.pop3s_port,
        tls="tls",
        ca_pem=ca_pem,
        extra="      after_replication: {move_to: Processed}\n",
    )
    assert result.exit_code == 1, result.output
    report = _receive(result)
    assert report["problem"] == "unsupported" and report["authenticated"]
    assert "accounts.inbox.receive.after_replication moves to 'Processed'" in report["diagnosis"]


def test_a_wrong_password_is_diagnosed_for_imap_and_pop3(
    tmp_path: Path, ca_pem: Path, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    wrong = canary("password")
    for protocol, port in (("imap", dovecot.imaps_port), ("pop3", dovecot.pop3s_port)):
        result = _check(
            tmp_path, dovecot_user, protocol=protocol, port=port, tls="tls", ca_pem=ca_pem, password=wrong
        )
        assert result.exit_code == 1, result.output
        report = _receive(result)
        assert report["problem"] == "auth_rejected", report
        assert not report["authenticated"] and dovecot_user.name in report["diagnosis"]
        assert wrong not in result.output


def test_an_untrusted_certificate_is_diagnosed(
    tmp_path: Path, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    result = _check(tmp_path, dovecot_user, protocol="imap", port=dovecot.imaps_port, tls="tls")
    assert result.exit_code == 1, result.output
    report = _receive(result)
    assert report["problem"] == "tls_untrusted", report
    assert "ca_file" in report["explanation"]


def test_a_closed_port_is_diagnosed(tmp_path: Path, ca_pem: Path, dovecot_user: MailUser) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    result = _check(tmp_path, dovecot_user, protocol="pop3", port=port, tls="tls", ca_pem=ca_pem)
    assert result.exit_code == 1, result.output
    report = _receive(result)
    assert report["problem"] == "refused", report
    assert f"127.0.0.1:{port}" in report["diagnosis"]
