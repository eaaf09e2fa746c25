"""Issue 9's first "Done when": 1,000 messages through a pipeline with a failing step, a webhook that
is down for a while and a reply by template; nothing lost, every failure visible, replay working.

The pipeline (from YAML): ``store`` -> ``webhook`` (a local HTTP server, refusing connections in
the first run) -> ``run`` (a step that raises for every 10th message until it is mended) ->
``reply`` (a template, sent by the outbox to aiosmtpd), ``on_error: [log]``.

* run 1: the endpoint is down: every message is stored and marked with the webhook's reason
  (``last_error``, a warning in the email log); none stays unrecorded, none is answered.
* run 2: the endpoint is back: 1,000 POSTs; 100 messages fail the ``run`` step (marked, logged);
  900 replies are queued.
* run 3: the step is mended: the 100 are retried; their webhook is not posted again (finished
  steps are remembered), their replies are queued.
* the outbox sends the 1,000 replies to aiosmtpd: each message answered exactly once.
* replay of a stored message runs every step again (one more POST, one more reply).

The default run uses 1,000 messages; ``-m long`` runs the 5,000-message variant.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailconduit import Outbox
from mailconduit._pipeline import replay
from mailconduit._store import Store, open_store
from mailconduit.testing import DovecotServer, MailUser, SmtpServer
from tests import _pipeline_steps as steps_module
from tests._pipeline_helpers import HookServer, config_from, log_lines, messages, plugins, run, write_template

pytestmark = pytest.mark.servers


def mail(n: int) -> bytes:
    return (
        f"From: Customer {n} <customer{n}@example.org>\r\nTo: support@example.test\r\n"
        f"Subject: request {n}\r\nMessage-ID: <req-{n}@example.org>\r\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease help with case {n}.\r\n"
    ).encode()


def seed(port: int, user: MailUser, count: int) -> list[bytes]:
    seeded = [mail(n) for n in range(1, count + 1)]
    client = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        client.login(user.name, user.password)
        for raw in seeded:
            assert client.append("INBOX", None, None, raw)[0] == "OK"
    finally:
        client.logout()
    return seeded


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield opened
    opened.close()


def config_yaml(
    tmp: Path, dovecot: DovecotServer, user: MailUser, smtp: SmtpServer, ca: Path, port: int
) -> str:
    templates = tmp / "templates"
    write_template(
        templates,
        "ack",
        text="Hello {{ sender }},\nwe received '{{ subject }}' and opened a case.\n> {{ text }}",
    )
    return (
        f"templates: {json.dumps(str(templates))}\n"
        "accounts:\n"
        "  support:\n"
        f"    email: {user.address}\n"
        f"    ca_file: {json.dumps(str(ca))}\n"
        f"    auth: {{method: password, username: {json.dumps(user.name)}, password: '${{env:PW}}'}}\n"
        f"    receive: {{protocol: imap, host: 127.0.0.1, port: {dovecot.imap_port}, tls: starttls, "
        "replicate_everything: true}\n"
        "  mailer:\n"
        "    email: support@example.test\n"
        f"    send: {{protocol: smtp, host: 127.0.0.1, port: {smtp.plain_port}, tls: none}}\n"
        "pipelines:\n"
        "  p:\n"
        "    receive: support\n"
        "    steps:\n"
        "      - store\n"
        f"      - webhook: {{url: 'http://127.0.0.1:{port}/hooks/mail', retries: 1, timeout: 5s, "
        "backoff: {initial: 1s, max: 1m}}\n"
        "      - run: {callable: 'tests._pipeline_steps:flaky'}\n"
        "      - reply: {template: ack, account: mailer}\n"
        "    on_error: [log]\n"
    )


def check(
    count: int,
    tmp: Path,
    dovecot: DovecotServer,
    user: MailUser,
    smtp: SmtpServer,
    ca: Path,
    store: Store,
) -> None:
    steps_module.STATE.broken, steps_module.STATE.fail_every = True, 10
    steps_module.STATE.calls.clear()
    hook = HookServer().start()
    port = hook.port
    hook.stop()  # down: connections refused
    config = config_from(config_yaml(tmp, dovecot, user, smtp, ca, port), user.password)
    seeded = seed(dovecot.imap_port, user, count)
    broken = count // 10

    # run 1: the webhook is down; every message is stored and marked, nothing is answered
    first = run(config, store)
    assert (first.fetched, first.stored, first.failed) == (count, count, count)
    rows = messages(store)
    assert len(rows) == count
    assert all("webhook http://127.0.0.1" in (r.last_error or "") for r in rows)
    log = log_lines(store)
    assert sum(1 for level, _i, text in log if level == "warning" and "not finished" in text) == count
    assert any("could not connect" in text for _l, _i, text in log)

    # run 2: the webhook is back; the run step fails for every 10th message
    hook.start()
    try:
        second = run(config, store)
        assert (second.fetched, second.stored, second.failed) == (count, 0, broken)
        assert len(hook.hits) == count
        failed = [r for r in messages(store) if r.last_error]
        assert len(failed) == broken
        assert all("step 'run' failed: RuntimeError: the invoice service is down" in (r.last_error or "")
                   for r in failed)  # fmt: skip
        # on_error: [log] wrote an info line for each of them
        failed_ids = {r.id for r in failed}
        on_error_logged = {i for level, i, text in log_lines(store) if level == "info" and i in failed_ids}
        assert on_error_logged == failed_ids

        # run 3: mended; the 100 are retried, their webhook is not posted again
        steps_module.STATE.broken = False
        third = run(config, store)
        assert (third.fetched, third.failed) == (broken, 0)
        assert len(hook.hits) == count
        assert Counter(hit.json()["message_id"] for hit in hook.hits) == Counter(
            f"<req-{n}@example.org>" for n in range(1, count + 1)
        )
        assert all(r.last_error is None for r in messages(store))
        assert run(config, store).fetched == 0

        # the outbox sends every reply once
        outbox = Outbox(store, config, plugins(), sleep=lambda _s: None, rng=random.Random(2))
        sent = 0
        while True:
            stats = outbox.run(once=True)
            sent += stats.sent
            if stats.claimed == 0:
                break
        assert sent == count
        received = smtp.wait_for_messages(count, timeout=60)
        answered = Counter(
            str(email.message_from_bytes(m.data, policy=email.policy.default)["In-Reply-To"])
            for m in received
        )
        assert answered == Counter(f"<req-{n}@example.org>" for n in range(1, count + 1))
        sample = email.message_from_bytes(received[0].data, policy=email.policy.default)
        assert str(sample["Subject"]).startswith("Re: request ")
        assert "we received 'request " in sample.get_content()

        # nothing lost, nothing stored twice
        stored = Counter(r.sha256 for r in messages(store) if r.direction.value == "incoming")
        assert len(stored) == count and max(stored.values()) == 1
        import hashlib

        assert set(stored) == {hashlib.sha256(raw).hexdigest() for raw in seeded}

        # replay runs every step again on a stored message
        target = messages(store)[5]
        result = replay(target.id, store=store, plugins=plugins(), config=config, pipeline="p")
        assert result.accepted and result.queued == 1 and not result.finished
        assert len(hook.hits) == count + 1
        assert hook.hits[-1].json()["id"] == target.id
        assert outbox.run(once=True).sent == 1
    finally:
        hook.stop()


def test_a_thousand_messages_through_a_failing_step_a_down_webhook_and_replies(
    tmp_path: Path,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    smtp_server: SmtpServer,
    ca_pem: Path,
    store: Store,
) -> None:
    check(1000, tmp_path, dovecot, dovecot_user, smtp_server, ca_pem, store)


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_five_thousand_messages_through_the_same_pipeline(
    tmp_path: Path,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    smtp_server: SmtpServer,
    ca_pem: Path,
    store: Store,
) -> None:
    check(5000, tmp_path, dovecot, dovecot_user, smtp_server, ca_pem, store)
