"""`mailconduit draft`: create from a template, list, show, edit, send through the outbox to loopback SMTP."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailconduit import Template
from mailconduit._cli import cli
from mailconduit._store import open_store
from mailconduit._templates import TemplateStore
from mailconduit.testing import SmtpServer

pytestmark = pytest.mark.servers


@pytest.fixture
def config(tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'mail.db'}"
    store = open_store(url)
    TemplateStore(store).save(
        Template(name="hello", subject="Hi {{ name }}", to="{{ email }}", text="Hello\n")
    )
    store.close()
    path = tmp_path / "mailconduit.yaml"
    path.write_text(
        f"database: {url}\naccounts:\n  support:\n    email: support@example.test\n    send:\n"
        f"      protocol: smtp\n      host: 127.0.0.1\n"
        f"      port: {smtp_server.plain_port}\n      tls: none\n"
    )
    (tmp_path / "data.json").write_text(json.dumps({"name": "Ada", "email": "ada@example.org"}))
    return path


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), "draft", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_create_edit_send(config: Path, smtp_server: SmtpServer) -> None:
    out = run(config, "create", "--template", "hello", "--data", "data.json", "--account", "support")
    draft_id = out.split()[1]
    assert json.loads(run(config, "list", "--json"))[0]["subject"] == "Hi Ada"
    run(config, "edit", draft_id, "--subject", "Edited", "--to", "grace@example.org")
    assert "Subject: Edited" in run(config, "show", draft_id) and smtp_server.messages == []
    assert "sent" in run(config, "send", draft_id)
    [mail] = smtp_server.messages
    assert message_from_bytes(mail.data, policy=policy.default)["Subject"] == "Edited"
    assert list(mail.rcpt_tos) == ["grace@example.org"]
    assert json.loads(run(config, "list", "--json")) == []


def test_send_queued_at_a_time(config: Path, smtp_server: SmtpServer) -> None:
    draft_id = run(
        config, "create", "--template", "hello", "--data", "data.json", "--account", "support"
    ).split()[1]
    assert "queued for 2030-01-01T09:00:00+00:00" in run(
        config, "send", draft_id, "--at", "2030-01-01T09:00+00:00"
    )
    assert smtp_server.messages == []
