"""`mailconduit send` and `outbox run/list/retry` end to end: CLI, outbox, smtp plugin, aiosmtpd."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailconduit.testing import SmtpServer

CONFIG = """
database: sqlite:///{db}
templates: {templates}
accounts:
  support:
    email: support@example.test
    display_name: Example Support
    ca_file: {ca}
    auth:
      method: password
      username: {user}
      password: ${{env:MC_SEND_PW}}
    send:
      protocol: smtp
      host: 127.0.0.1
      port: {port}
      tls: starttls
      timeout: 5s
      max_attempts: {attempts}
      backoff: {{initial: 1s, max: 2s}}
"""


@pytest.fixture
def cli_env(tmp_path: Path, ca_pem: Path, smtp_server: SmtpServer):
    user = smtp_server.add_user()

    def write(attempts: int = 1) -> Path:
        config = tmp_path / "mailconduit.yaml"
        (tmp_path / "templates").mkdir(exist_ok=True)
        config.write_text(
            CONFIG.format(
                templates=tmp_path / "templates",
                db=tmp_path / "mc.db",
                ca=ca_pem,
                user=user.name,
                port=smtp_server.starttls_port,
                attempts=attempts,
            )
        )
        return config

    def run(*args: str, attempts: int = 1) -> Result:
        from mailconduit._cli import cli

        config = write(attempts)
        return CliRunner().invoke(cli, ["--config", str(config), *args], env={"MC_SEND_PW": user.password})

    run("db", "upgrade")
    return run


def test_send_now_arrives_with_attachment_and_inline_image(
    cli_env, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    (tmp_path / "body.html").write_text('<p>Hello <img src="cid:logo"></p>')
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    (tmp_path / "terms.pdf").write_bytes(b"%PDF-1.4 terms")
    result = cli_env(
        "send",
        "-a",
        "support",
        "--to",
        "Jane Doe <jane@example.test>; bob@example.test",
        "--bcc",
        "audit@example.test",
        "-s",
        "Grüße aus dem Support",
        "--html",
        str(tmp_path / "body.html"),
        "--inline",
        f"logo={tmp_path / 'logo.png'}",
        "--attach",
        str(tmp_path / "terms.pdf"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["status"] == "sent" and report["attempts"] == 1
    received = smtp_server.wait_for_messages(1)[0]
    assert set(received.rcpt_tos) == {"jane@example.test", "bob@example.test", "audit@example.test"}
    parsed = email.message_from_bytes(received.data, policy=policy.default)
    assert parsed["Subject"] == "Grüße aus dem Support"
    assert parsed["Bcc"] is None
    assert parsed["Message-ID"].strip("<>") == report["message_id"].strip("<>")
    parts = {p.get_filename() or p.get("Content-ID", ""): p for p in parsed.walk() if not p.is_multipart()}
    assert parts["terms.pdf"].get_content() == b"%PDF-1.4 terms"
    assert any("logo" in key for key in parts)


def test_queue_then_outbox_run_sends_and_list_shows_it(cli_env, smtp_server: SmtpServer) -> None:
    queued = cli_env(
        "send", "-a", "support", "--to", "x@example.test", "-s", "queued one", "--queue", "--json"
    )
    assert queued.exit_code == 0, queued.output
    message_id = json.loads(queued.output)["id"]
    later = cli_env("send", "-a", "support", "--to", "x@example.test", "-s", "tomorrow", "--at", "+1d")
    assert later.exit_code == 0 and "queued as" in later.output
    assert smtp_server.messages == []
    ran = cli_env("outbox", "run", "--once", "--json")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["sent"] == 1
    assert [m.data.count(b"queued one") for m in smtp_server.messages] == [1]
    listed = {row["id"]: row for row in json.loads(cli_env("outbox", "list", "--json").output)}
    assert listed[message_id]["status"] == "sent"
    assert sum(row["status"] == "queued" for row in listed.values()) == 1


def test_permanent_failure_then_retry(cli_env, smtp_server: SmtpServer) -> None:
    smtp_server.inject("RCPT", "550 5.1.1 mailbox unavailable")
    failed = cli_env("send", "-a", "support", "--to", "gone@example.test", "-s", "hello", "--json")
    assert failed.exit_code == 1
    report = json.loads(failed.output)
    assert report["status"] == "failed" and "550" in (report["reply"] + json.dumps(report["refused"]))
    log = cli_env("log", "--account", "support", "--json")
    assert "550" in log.output
    again = cli_env("outbox", "retry", str(report["id"]))
    assert again.exit_code == 0 and "queued again" in again.output
    assert json.loads(cli_env("outbox", "run", "--once", "--json").output)["sent"] == 1


def test_temporary_failure_is_queued_for_retry(cli_env, smtp_server: SmtpServer) -> None:
    smtp_server.inject("MAIL", "451 4.3.0 try again later")
    result = cli_env("send", "-a", "support", "--to", "x@example.test", "-s", "soon", "--json", attempts=3)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["status"] == "queued" and report["next_attempt_at"]


def test_bad_recipient_is_a_clear_usage_error(cli_env) -> None:
    result = cli_env("send", "-a", "support", "--to", "alice@example.org)<bob@example.org>", "-s", "x")
    assert result.exit_code == 2
    assert "not a single valid e-mail address" in result.output


def test_send_with_a_template_and_data(cli_env, smtp_server: SmtpServer, tmp_path: Path) -> None:
    (tmp_path / "templates" / "ack.yaml").write_text(
        "subject: 'Ticket {{ ticket.id }} received'\n"
        "to: '{{ customer.name }} <{{ customer.email }}>'\n"
        "text: 'Hello {{ customer.name }}, we got {{ ticket.id }}.'\n"
        "html: '<p>Hello {{ customer.name }}: {{ ticket.title }}</p>'\n"
    )
    (tmp_path / "data.json").write_text(
        json.dumps(
            {
                "ticket": {"id": 4711, "title": "<b>help</b>"},
                "customer": {"name": "Jane", "email": "jane@example.test"},
            }
        )
    )
    result = cli_env(
        "send", "-a", "support", "--template", "ack", "--data", str(tmp_path / "data.json"), "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "sent"
    received = smtp_server.wait_for_messages(1)[0]
    parsed = email.message_from_bytes(received.data, policy=policy.default)
    assert parsed["Subject"] == "Ticket 4711 received"
    assert received.rcpt_tos == ("jane@example.test",)
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hello Jane: &lt;b&gt;help&lt;/b&gt;</p>"
    assert "Hello Jane, we got 4711." in parsed.get_body(("plain",)).get_content()
