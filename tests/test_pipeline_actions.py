"""The built-in pipeline actions end to end: YAML pipelines against Dovecot, aiosmtpd and a local HTTP server.

Each test loads a config from YAML, seeds Dovecot over IMAP APPEND, runs the pipeline once (or a
few times) with ``run_pipeline`` and checks what a user sees: the HTTP requests the endpoint got,
the mail aiosmtpd received from the outbox, the messages and flags on the IMAP server, the store's
rows (``last_error``) and the email log.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailconduit import ConfigError, Outbox, load_config
from mailconduit._pipeline import replay
from mailconduit._store import Store, open_store
from mailconduit.testing import CertFiles, DovecotServer, MailUser, SmtpServer, canary
from tests import _pipeline_steps as steps_module
from tests._pipeline_helpers import HookServer, config_from, log_lines, messages, plugins, run, write_template

pytestmark = pytest.mark.servers


def mail(
    n: int, *, tag: str = "m", extra: str = "", sender: str = "Customer <customer@example.org>"
) -> bytes:
    """A small CRLF message numbered ``n`` (its subject ends with the number)."""
    return (
        f"From: {sender}\r\nTo: support@example.test\r\nSubject: {tag} {n}\r\n"
        f"Message-ID: <{tag}-{n}@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, this is {tag} {n}.\r\n"
    ).encode()


def append(port: int, user: MailUser, items: list[bytes], folder: str = "INBOX") -> None:
    """Seed ``items`` over IMAP APPEND."""
    client = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    try:
        client.login(user.name, user.password)
        for raw in items:
            assert client.append(folder, None, None, raw)[0] == "OK"
    finally:
        client.logout()


def imap(port: int, user: MailUser) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    client.login(user.name, user.password)
    return client


def folder_subjects(port: int, user: MailUser, folder: str) -> list[str]:
    client = imap(port, user)
    try:
        assert client.select(f'"{folder}"')[0] == "OK"
        typ, data = client.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK"
        return sorted(
            part[1].decode().split(":", 1)[1].strip()
            for part in data
            if isinstance(part, tuple) and part[1].strip()
        )
    finally:
        client.logout()


def flags_by_subject(port: int, user: MailUser) -> dict[str, set[str]]:
    client = imap(port, user)
    try:
        client.select("INBOX")
        typ, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK"
        out: dict[str, set[str]] = {}
        for part in data:
            if isinstance(part, tuple):
                found = re.search(rb"FLAGS \(([^)]*)\)", part[0])
                subject = part[1].decode().split(":", 1)[1].strip()
                out[subject] = set(found.group(1).decode().split()) if found else set()
        return out
    finally:
        client.logout()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


class Setup:
    """The test's servers and a YAML builder around them."""

    def __init__(self, tmp: Path, dovecot: DovecotServer, user: MailUser, smtp: SmtpServer, ca: Path) -> None:
        self.tmp, self.dovecot, self.user, self.smtp, self.ca = tmp, dovecot, user, smtp, ca
        self.templates = tmp / "templates"
        self.templates.mkdir()

    def yaml(self, steps: str, *, extra: str = "", receive: str = "", on_error: str = "") -> str:
        """A config with accounts ``support`` (IMAP) and ``mailer`` (SMTP) and pipeline ``p``."""
        return (
            f"templates: {json.dumps(str(self.templates))}\n"
            "accounts:\n"
            "  support:\n"
            f"    email: {self.user.address}\n"
            f"    ca_file: {json.dumps(str(self.ca))}\n"
            f"    auth: {{method: password, username: {json.dumps(self.user.name)}, "
            "password: '${env:PW}'}\n"
            f"    receive: {{protocol: imap, host: 127.0.0.1, port: {self.dovecot.imap_port}, tls: starttls"
            f"{receive}}}\n"
            "  mailer:\n"
            "    email: support@example.test\n"
            f"    send: {{protocol: smtp, host: 127.0.0.1, port: {self.smtp.plain_port}, tls: none}}\n"
            f"{extra}"
            "pipelines:\n"
            "  p:\n"
            "    receive: support\n"
            f"    steps:\n{steps}"
            f"{on_error}"
        )

    def config(self, steps: str, **kwargs: Any) -> Any:
        return config_from(self.yaml(steps, **kwargs), self.user.password)

    def seed(self, items: list[bytes], folder: str = "INBOX") -> None:
        append(self.dovecot.imap_port, self.user, items, folder)


@pytest.fixture
def setup(
    tmp_path: Path, dovecot: DovecotServer, dovecot_user: MailUser, smtp_server: SmtpServer, ca_pem: Path
) -> Setup:
    return Setup(tmp_path, dovecot, dovecot_user, smtp_server, ca_pem)


@pytest.fixture
def hook() -> Iterator[HookServer]:
    with HookServer() as server:
        yield server


def outbox(store: Store, config: Any) -> Outbox:
    return Outbox(store, config, plugins(), sleep=lambda _s: None, rng=random.Random(1))


# ------------------------------------------------------------------------------------ webhook
def test_webhook_posts_a_json_summary_with_secret_headers(
    setup: Setup, hook: HookServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = canary("hooktoken")
    text = setup.yaml(
        "      - store\n"
        f"      - webhook: {{url: {hook.url}, headers: {{Authorization: '${{env:HOOK_TOKEN}}'}}}}\n"
    )
    setup.seed([mail(1), mail(2)])
    config = load_config(
        text, plugins(), environ={"PW": setup.user.password, "HOOK_TOKEN": f"Bearer {token}"}
    )
    assert "Bearer" not in repr(config.pipelines["p"])
    result = run(config, store)
    assert (result.stored, result.failed) == (2, 0)
    assert [hit.path for hit in hook.hits] == ["/hooks/mail", "/hooks/mail"]
    first = hook.hits[0]
    assert first.headers["Authorization"] == f"Bearer {token}"
    assert first.headers["Content-Type"] == "application/json"
    body = first.json()
    rows = messages(store)
    assert body == {
        "id": rows[0].id,
        "account": "support",
        "folder": "INBOX",
        "message_id": "<m-1@example.org>",
        "subject": "m 1",
        "from": "Customer <customer@example.org>",
        "date": "Mon, 1 Jan 2024 10:00:00 +0000",
        "size": rows[0].size,
        "sha256": rows[0].sha256,
        "annotations": {},
    }
    assert first.headers["Idempotency-Key"] == f"mailconduit-{rows[0].id}-{rows[0].sha256}"
    assert all(row.last_error is None and row.annotations.get("webhook_status") == "200" for row in rows)


def test_webhook_raw_posts_the_exact_bytes(setup: Setup, hook: HookServer, store: Store) -> None:
    config = setup.config(f"      - webhook: {{url: {hook.url}, send: raw}}\n")
    setup.seed([mail(7)])
    run(config, store)
    (hit,) = hook.hits
    assert hit.headers["Content-Type"] == "message/rfc822"
    assert hit.body == mail(7)


def test_webhook_down_then_back_delivers_each_message_once(setup: Setup, store: Store) -> None:
    hook = HookServer().start()
    port = hook.port
    hook.stop()  # refused: nothing listens on the port
    config = setup.config(
        "      - store\n"
        f"      - webhook: {{url: 'http://127.0.0.1:{port}/hooks/mail', retries: 2, "
        "backoff: {initial: 1s, max: 1s}, timeout: 2s}\n"
    )
    setup.seed([mail(n) for n in range(1, 6)])
    first = run(config, store)
    assert (first.stored, first.failed) == (5, 5)
    rows = messages(store)
    assert all(
        "failed after 3 attempts: could not connect (ConnectError" in (r.last_error or "") for r in rows
    )
    warnings = [text for level, _id, text in log_lines(store) if level == "warning"]
    assert any("webhook http://127.0.0.1" in text and "failed after 3 attempts" in text for text in warnings)
    assert folder_subjects(setup.dovecot.imap_port, setup.user, "INBOX") == [f"m {n}" for n in range(1, 6)]

    hook.start()
    try:
        second = run(config, store)
        assert second.failed == 0
        assert sorted(hit.json()["subject"] for hit in hook.hits) == [f"m {n}" for n in range(1, 6)]
        assert all(r.last_error is None for r in messages(store))
        third = run(config, store)
        assert third.fetched == 0 and len(hook.hits) == 5
    finally:
        hook.stop()


def test_webhook_503_is_retried_then_rejected_and_a_404_at_once(
    setup: Setup, hook: HookServer, store: Store
) -> None:
    config = setup.config(
        f"      - webhook: {{url: {hook.url}, retries: 2, backoff: {{initial: 1s, max: 1s}}}}\n"
    )
    setup.seed([mail(1), mail(2), mail(3)])
    hook.fail_with(503, retry_after="0")
    run(config, store)
    # the first message spent its 3 attempts; the endpoint then counts as down for backoff.max
    assert hook.refused_answers >= 3
    reasons = [r.last_error or "" for r in messages(store)]
    assert "failed after 3 attempts: HTTP 503 Service Unavailable" in reasons[0]
    assert all("webhook http://127.0.0.1" in reason for reason in reasons)

    hook.fail_with(404)
    before = hook.refused_answers
    run(config, store)
    assert hook.refused_answers - before == 3  # one request per message: a 404 is not retried
    assert all("HTTP 404 Not Found (not retried" in (r.last_error or "") for r in messages(store))
    hook.fail_with(None)
    run(config, store)
    assert len(hook.hits) == 3 and all(r.last_error is None for r in messages(store))


def test_webhook_over_https_is_verified(setup: Setup, store: Store, server_cert: CertFiles) -> None:
    with HookServer(server_cert.server_context()) as hook:
        setup.seed([mail(1)])
        unverified = setup.config(f"      - webhook: {{url: {hook.url}, retries: 0}}\n")
        run(unverified, store)
        assert "CERTIFICATE_VERIFY_FAILED" in (messages(store)[0].last_error or "")
        assert hook.hits == []
        trusted = setup.config(
            f"      - webhook: {{url: {hook.url}, retries: 0, ca_file: {json.dumps(str(setup.ca))}}}\n"
        )
        run(trusted, store)
        assert len(hook.hits) == 1 and messages(store)[0].last_error is None


def test_a_later_failing_step_does_not_repost_the_webhook(
    setup: Setup, hook: HookServer, store: Store
) -> None:
    steps_module.STATE.broken, steps_module.STATE.fail_every = True, 2
    config = setup.config(
        "      - store\n"
        f"      - webhook: {{url: {hook.url}}}\n"
        "      - run: {callable: 'tests._pipeline_steps:flaky'}\n",
        on_error="    on_error: [log]\n",
    )
    setup.seed([mail(1), mail(2)])
    first = run(config, store)
    assert first.failed == 1
    assert len(hook.hits) == 2
    failed = [r for r in messages(store) if r.last_error]
    assert len(failed) == 1
    assert "step 'run' failed: RuntimeError: the invoice service is down" in (failed[0].last_error or "")
    assert any(level == "info" and "m 2" in text for level, _i, text in log_lines(store))  # on_error: log
    steps_module.STATE.broken = False
    second = run(config, store)
    assert second.failed == 0
    assert len(hook.hits) == 2  # the retried message's webhook had finished: not posted again
    assert all(r.last_error is None for r in messages(store))


# ------------------------------------------------------------------------------------ forward
def test_forward_queues_the_original_attached_and_the_outbox_sends_it(setup: Setup, store: Store) -> None:
    config = setup.config("      - forward: {to: [archive@example.net], account: mailer}\n")
    original = mail(3, extra="X-Original: yes\r\n")
    setup.seed([original])
    run(config, store)
    stats = outbox(store, config).run(once=True)
    assert stats.sent == 1
    (received,) = setup.smtp.wait_for_messages(1)
    assert received.rcpt_tos == ("archive@example.net",)
    parsed = email.message_from_bytes(received.data, policy=email.policy.default)
    assert parsed["Subject"] == "Fwd: m 3"
    assert parsed["Auto-Submitted"] == "auto-generated"
    (attached,) = [p for p in parsed.walk() if p.get_content_type() == "message/rfc822"]
    assert attached["Content-Transfer-Encoding"] == "7bit"
    inner = received.data[received.data.index(b"From: Customer") :]
    assert original in inner  # byte for byte
    assert messages(store)[0].annotations["forwarded_to"] == "archive@example.net"


def test_forward_to_an_unknown_account_fails_the_step_with_the_reason(setup: Setup, store: Store) -> None:
    config = setup.config("      - forward: {to: [archive@example.net], account: nobody}\n")
    setup.seed([mail(1)])
    assert run(config, store).failed == 1
    assert "nobody" in (messages(store)[0].last_error or "")


# ------------------------------------------------------------------------------------ reply
def test_reply_by_template_goes_to_reply_to_and_skips_automatic_mail(setup: Setup, store: Store) -> None:
    write_template(
        setup.templates,
        "ack",
        text="Dear customer,\nwe got your message {{ subject }} ({{ message_id }}).\n> {{ text }}",
    )
    config = setup.config("      - reply: {template: ack, account: mailer}\n")
    setup.seed(
        [
            mail(1, extra="Reply-To: Desk <desk@example.org>\r\nReferences: <older@example.org>\r\n"),
            mail(2, extra="Auto-Submitted: auto-replied\r\n"),
            mail(3, extra="Precedence: bulk\r\n"),
            mail(4, sender="MAILER-DAEMON@example.org"),
            mail(5, extra="Return-Path: <>\r\n"),
            mail(6, extra="List-Id: <news.example.org>\r\n"),
            mail(7, sender=setup.user.address),
            mail(8),
        ]
    )
    result = run(config, store)
    assert result.failed == 0
    assert outbox(store, config).run(once=True).sent == 2
    received = setup.smtp.wait_for_messages(2)
    by_rcpt = {m.rcpt_tos: email.message_from_bytes(m.data, policy=email.policy.default) for m in received}
    assert set(by_rcpt) == {("desk@example.org",), ("customer@example.org",)}
    reply = by_rcpt[("desk@example.org",)]
    assert reply["Subject"] == "Re: m 1"
    assert reply["In-Reply-To"] == "<m-1@example.org>"
    assert reply["References"] == "<older@example.org> <m-1@example.org>"
    assert reply["Auto-Submitted"] == "auto-replied"
    body = reply.get_content()
    assert "we got your message m 1 (<m-1@example.org>)." in body and "> Hello, this is m 1." in body
    skipped = {i: t for level, i, t in log_lines(store) if level == "info" and t.startswith("no reply")}
    assert len(skipped) == 6
    reasons = " | ".join(skipped.values())
    for why in ("Auto-Submitted: auto-replied", "Precedence: bulk", "mail system", "empty return path",
                "mailing list", "own address"):  # fmt: skip
        assert why in reasons
    again = run(config, store)  # nothing new: nothing queued again
    assert again.fetched == 0 and outbox(store, config).run(once=True).sent == 0


def test_reply_with_a_missing_template_fails_the_step_naming_it(setup: Setup, store: Store) -> None:
    config = setup.config("      - reply: {template: nosuch, account: mailer}\n")
    setup.seed([mail(1)])
    assert run(config, store).failed == 1
    assert "no template 'nosuch'" in (messages(store)[0].last_error or "")


# ------------------------------------------------------------------------------------ move / flag
def test_move_and_flag_change_exactly_the_accepted_messages(setup: Setup, store: Store) -> None:
    client = imap(setup.dovecot.imap_port, setup.user)
    assert client.create("Done")[0] == "OK"
    client.logout()
    config = setup.config(
        "      - store\n"
        "      - run: {callable: 'tests._pipeline_steps:refuse_odd'}\n"
        "      - flag: {add: ['\\Seen', handled]}\n"
    )
    setup.seed([mail(n) for n in range(1, 5)])
    run(config, store)
    flags = flags_by_subject(setup.dovecot.imap_port, setup.user)
    assert {"\\Seen", "handled"} <= flags["m 2"] and {"\\Seen", "handled"} <= flags["m 4"]
    assert not flags["m 1"] & {"\\Seen", "handled"} and not flags["m 3"] & {"\\Seen", "handled"}

    moving = setup.config("      - flag: {add: ['\\Flagged']}\n      - move: {to: Done}\n")
    store2 = open_store(f"sqlite:///{setup.tmp / 'two.db'}")
    try:
        result = run(moving, store2)
        assert result.moved == 4
        assert folder_subjects(setup.dovecot.imap_port, setup.user, "Done") == [f"m {n}" for n in range(1, 5)]
        assert folder_subjects(setup.dovecot.imap_port, setup.user, "INBOX") == []
        client = imap(setup.dovecot.imap_port, setup.user)
        client.select("Done")
        _typ, data = client.uid("FETCH", "1:*", "(FLAGS)")
        client.logout()
        assert all(b"\\Flagged" in line for line in data if isinstance(line, bytes))
    finally:
        store2.close()


def test_move_to_a_missing_folder_fails_before_anything_is_fetched(setup: Setup, store: Store) -> None:
    config = setup.config("      - move: {to: Nowhere}\n")
    setup.seed([mail(1)])
    with pytest.raises(ConfigError) as caught:
        run(config, store)
    assert caught.value.problems[0][0] == "pipelines.p.steps"
    assert "has no folder 'Nowhere'; create it or move to one of" in caught.value.problems[0][1]
    assert messages(store) == []


def test_flag_or_move_in_a_pop3_pipeline_is_a_config_error(setup: Setup) -> None:
    text = setup.yaml("      - store\n      - flag: {add: ['\\Seen']}\n").replace(
        f"receive: {{protocol: imap, host: 127.0.0.1, port: {setup.dovecot.imap_port}, tls: starttls}}",
        f"receive: {{protocol: pop3, host: 127.0.0.1, port: {setup.dovecot.pop3_port}, tls: starttls}}",
    )
    with pytest.raises(ConfigError) as caught:
        config_from(text, setup.user.password)
    (problem,) = caught.value.problems
    assert problem[0] == "pipelines.p.steps"
    assert "step 'flag' needs flags on the server" in problem[1] and "pop3" in problem[1]


RUN = "steps[0].run.callable"


@pytest.mark.parametrize(
    ("step", "where", "expected"),
    [
        ("flag: {add: ['\\Deleted']}", "steps[0].flag.add", "use after_replication: delete"),
        ("flag: {add: ['two words']}", "steps[0].flag.add", "is not an IMAP keyword"),
        ("move: {to: ''}", "steps[0].move.to", "expected a folder name"),
        ("webhook: {url: 'ftp://x/y'}", "steps[0].webhook.url", "expected an http:// or https:// URL"),
        ("forward: {to: ['not an address']}", "steps[0].forward.to", "not an address"),
        (
            "run: {callable: 'tests._pipeline_steps:nothing_here'}",
            "steps[0].run.callable",
            "has no 'nothing_here'",
        ),
        (
            "run: {callable: 'no_such_module_x:f'}",
            "steps[0].run.callable",
            "cannot import module 'no_such_module_x'",
        ),
        ("run: {callable: 'tests._pipeline_steps:NOT_CALLABLE'}", "steps[0].run.callable", "not a callable"),
    ],
)
def test_bad_step_settings_are_config_errors_naming_the_path(
    setup: Setup, step: str, where: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from(setup.yaml(f"      - {step}\n"), setup.user.password)
    paths = {path: text for path, text in caught.value.problems}
    assert f"pipelines.p.{where}" in paths, caught.value.problems
    assert expected in paths[f"pipelines.p.{where}"]


# ------------------------------------------------------------------------------------ run / replay
def test_run_calls_functions_and_classes_and_refuses_a_non_result(setup: Setup, store: Store) -> None:
    config = setup.config(
        "      - run: {callable: 'tests._pipeline_steps:Tagger'}\n"
        "      - run: {callable: 'tests._pipeline_steps:no_result'}\n"
    )
    setup.seed([mail(1)])
    assert run(config, store).failed == 1
    row = messages(store)[0]
    assert row.annotations.get("tagged") == "yes"
    assert "returned NoneType, not an ActionResult" in (row.last_error or "")


def test_replay_reruns_the_steps_on_a_stored_message(setup: Setup, hook: HookServer, store: Store) -> None:
    steps_module.STATE.broken, steps_module.STATE.fail_every = True, 1
    config = setup.config(
        f"      - webhook: {{url: {hook.url}}}\n      - run: {{callable: 'tests._pipeline_steps:flaky'}}\n"
    )
    setup.seed([mail(5)])
    assert run(config, store).failed == 1
    row = messages(store)[0]
    steps_module.STATE.broken = False
    result = replay(row.id, store=store, plugins=plugins(), config=config)
    assert result.accepted and result.finished and result.pipeline == "p"
    assert len(hook.hits) == 2  # replay runs every step again, the webhook included
    assert messages(store)[0].last_error is None
    assert run(config, store).fetched == 0


def test_replay_command_reruns_a_message_and_says_why_a_step_refused(
    setup: Setup, hook: HookServer, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from mailconduit._cli import cli

    db = tmp_path / "cli.db"
    path = tmp_path / "mailconduit.yaml"
    path.write_text(
        f"database: sqlite:///{db}\n"
        + setup.yaml(
            f"      - webhook: {{url: {hook.url}}}\n"
            "      - run: {callable: 'tests._pipeline_steps:refuse_odd'}\n"
        )
    )
    config = config_from(path.read_text(), setup.user.password)
    store = open_store(f"sqlite:///{db}")
    try:
        setup.seed([mail(1), mail(2)])
        run(config, store)
        odd, even = (r.id for r in messages(store))
    finally:
        store.close()
    env = {"PW": setup.user.password}
    accepted = CliRunner().invoke(cli, ["--config", str(path), "replay", str(even), "--json"], env=env)
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.output) == {
        "message_id": even,
        "pipeline": "p",
        "accepted": True,
        "reason": "",
        "queued": 0,
        "finished": False,
    }
    refused = CliRunner().invoke(cli, ["--config", str(path), "replay", str(odd), "--pipeline", "p"], env=env)
    assert refused.exit_code == 2
    assert "step 'run' rejected it: odd number 1" in refused.output
    missing = CliRunner().invoke(cli, ["--config", str(path), "replay", "999999"], env=env)
    assert missing.exit_code == 1 and "message 999999 is not in the store" in missing.output
    assert len(hook.hits) == 2 + 2
