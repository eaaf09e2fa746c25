"""Templates sent through the outbox to loopback SMTP; drafts edited then sent; sign/encrypt refusal."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailconduit import Attachment, PluginMissingError, Template, load_plugins
from mailconduit._config import load_config
from mailconduit._message import MessageStatus, SendOptions
from mailconduit._outbox import Outbox
from mailconduit._store import Store, open_store
from mailconduit._templates import Drafts, send_template
from mailconduit.testing import SmtpServer

PLUGINS = load_plugins()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
TEMPLATE = Template(
    name="welcome",
    subject="Welcome {{ user.name }}",
    from_display_name="{{ team }} desk",
    to="{{ user.email }}",
    text="Hello {{ user.name }} <3\n",
    html='<p>Hello {{ user.name }}</p><img src="cid:logo">',
    attachments=(
        Attachment(
            filename="logo.png", content=PNG, content_type="image/png", inline=True, content_id="logo"
        ),
        Attachment(filename="terms.pdf", content=b"%PDF-1.4 terms", content_type="application/pdf"),
    ),
)
DATA = {"user": {"name": "Ada <Lovelace>", "email": "ada@example.org"}, "team": "Support"}

pytestmark = pytest.mark.servers


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


@pytest.fixture
def outbox(smtp_server: SmtpServer, store: Store) -> Outbox:
    account = {
        "email": "support@example.test",
        "send": {"protocol": "smtp", "host": "127.0.0.1", "port": smtp_server.plain_port, "tls": "none"},
    }
    config = load_config({"accounts": {"support": account}}, PLUGINS)
    return Outbox(store, config, PLUGINS)


def parts(raw: bytes) -> dict[str, bytes]:
    parsed = message_from_bytes(raw, policy=policy.default)
    found: dict[str, bytes] = {}
    for part in parsed.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_filename() or part.get_content_type()] = payload
    return found


def test_template_arrives_as_rendered_with_attachments_and_inline_images(
    outbox: Outbox, smtp_server: SmtpServer
) -> None:
    outcome = send_template(outbox, "support", TEMPLATE, DATA)
    assert outcome.status == MessageStatus.SENT
    [mail] = smtp_server.messages
    assert list(mail.rcpt_tos) == ["ada@example.org"]
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert parsed["Subject"] == "Welcome Ada <Lovelace>"
    assert str(parsed["From"]) == "Support desk <support@example.test>"
    found = parts(mail.data)
    assert found["text/plain"].decode().replace("\r\n", "\n") == "Hello Ada <Lovelace> <3\n"
    assert b"<p>Hello Ada &lt;Lovelace&gt;</p>" in found["text/html"]
    assert found["logo.png"] == PNG and found["terms.pdf"] == b"%PDF-1.4 terms"
    inline = next(p for p in parsed.walk() if p.get_filename() == "logo.png")
    assert inline["Content-ID"] == "<logo>"


def test_queued_template_waits_for_the_worker(outbox: Outbox, smtp_server: SmtpServer) -> None:
    outcome = send_template(outbox, "support", TEMPLATE, DATA, queue=True)
    assert outcome.status == MessageStatus.QUEUED and smtp_server.messages == []
    assert outbox.run(once=True).sent == 1 and len(smtp_server.messages) == 1


def test_draft_edited_then_sent_arrives_as_edited(
    outbox: Outbox, smtp_server: SmtpServer, store: Store
) -> None:
    drafts = Drafts(store, outbox.config, PLUGINS)
    draft = drafts.create("support", TEMPLATE, DATA)
    assert [d.id for d in drafts.list()] == [draft.id] and smtp_server.messages == []
    edited = drafts.edit(
        draft.id, subject="Edited subject", to="grace@example.org; ada@example.org", text="New\n"
    )
    assert edited.message.subject == "Edited subject"
    outcome = drafts.send(draft.id, outbox=outbox)
    assert outcome.status == MessageStatus.SENT and drafts.list() == []
    [mail] = smtp_server.messages
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert parsed["Subject"] == "Edited subject" and parsed["Message-ID"] == draft.message.message_id
    assert sorted(mail.rcpt_tos) == ["ada@example.org", "grace@example.org"]
    assert parts(mail.data)["logo.png"] == PNG


def test_sign_or_encrypt_without_a_plugin_is_refused_before_anything_is_queued(
    outbox: Outbox, smtp_server: SmtpServer
) -> None:
    for options in (SendOptions(sign=True), SendOptions(encrypt=True)):
        template = Template(name="secret", subject="s", to="a@example.org", text="x", options=options)
        with pytest.raises(PluginMissingError, match="nothing was sent"):
            send_template(outbox, "support", template, {})
    assert outbox.list() == [] and smtp_server.messages == []
