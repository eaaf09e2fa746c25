"""Every built-in action passes ``ActionContract`` with ``RecordingContext``; RecordingContext's own checks.

The webhook's suite posts to a real local HTTP server; the others record what they would queue
or change, and the records are checked as a user's unit test would check them.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import datetime

import attrs
import pytest

from mailconduit import Action, ActionContext, Message, StoredMessage, Template
from mailconduit._builtins.flag import FlagAction, FlagSettings
from mailconduit._builtins.forward import ForwardAction, ForwardSettings
from mailconduit._builtins.move import MoveAction, MoveSettings
from mailconduit._builtins.reply import ReplyAction, ReplySettings
from mailconduit._builtins.run import RunAction, RunSettings
from mailconduit._builtins.webhook import WebhookAction, WebhookSettings
from mailconduit.testing import ActionContract, RecordingContext, ServerChange, stored_sample
from tests._pipeline_helpers import HookServer

ACK = Template(name="ack", text="Thanks for {{ subject }}")


class TestWebhook(ActionContract):
    can_reject = True

    @pytest.fixture
    def hook(self) -> Iterator[HookServer]:
        with HookServer() as server:
            yield server

    @pytest.fixture
    def action(self, hook: HookServer) -> Action:
        return WebhookAction(WebhookSettings(url=hook.url, retries=0))

    @pytest.fixture
    def context(self) -> ActionContext:
        return RecordingContext()

    @pytest.fixture
    def rejected_message(self, hook: HookServer) -> StoredMessage:
        hook.fail_with(410)
        return stored_sample(9)


class TestForward(ActionContract):
    @pytest.fixture
    def action(self) -> Action:
        return ForwardAction(ForwardSettings(to=["archive@example.net"]))

    @pytest.fixture
    def context(self) -> ActionContext:
        return RecordingContext()


class TestReply(ActionContract):
    @pytest.fixture
    def action(self) -> Action:
        return ReplyAction(ReplySettings(template="ack"))

    @pytest.fixture
    def context(self) -> ActionContext:
        return RecordingContext(templates={"ack": ACK})


class TestMove(ActionContract):
    @pytest.fixture
    def action(self) -> Action:
        return MoveAction(MoveSettings(to="Archive"))

    @pytest.fixture
    def context(self) -> ActionContext:
        return RecordingContext()


class TestFlag(ActionContract):
    @pytest.fixture
    def action(self) -> Action:
        return FlagAction(FlagSettings(add=["\\seen", "handled"]))

    @pytest.fixture
    def context(self) -> ActionContext:
        return RecordingContext()


class TestRun(ActionContract):
    can_reject = True

    @pytest.fixture
    def action(self) -> Action:
        return RunAction(RunSettings(callable="tests._pipeline_steps:refuse_odd"))

    @pytest.fixture
    def context(self) -> ActionContext:
        return RecordingContext()

    @pytest.fixture
    def message(self) -> StoredMessage:
        return attrs.evolve(stored_sample(2), subject="request 2")

    @pytest.fixture
    def rejected_message(self) -> StoredMessage:
        return attrs.evolve(stored_sample(3), subject="request 3")


# ------------------------------------------------------------------ what the records show


def test_forward_and_reply_records_show_the_composed_mail() -> None:
    context = RecordingContext(templates={"ack": ACK})
    message = stored_sample(1)
    ForwardAction(ForwardSettings(to=["archive@example.net"], account="mailer"))(message, context)
    ReplyAction(ReplySettings(template="ack"))(message, context)
    forward, reply = context.queued
    assert forward.account == "mailer" and forward.message.subject == "Fwd: contract sample 1"
    assert [a.content_type for a in forward.message.attachments] == ["message/rfc822"]
    assert reply.account is None
    parsed = email.message_from_bytes(reply.data, policy=email.policy.default)
    assert parsed["To"] == "sender@example.test" and parsed["Subject"] == "Re: contract sample 1"
    assert parsed["In-Reply-To"] == "<contract-1@example.test>"
    assert parsed.get_content().strip() == "Thanks for contract sample 1"


def test_reply_to_automatic_mail_is_logged_not_queued() -> None:
    raw = b"From: MAILER-DAEMON@example.org\r\nSubject: Undelivered\r\nAuto-Submitted: auto-replied\r\n\r\n"
    bounce = attrs.evolve(stored_sample(4), raw=lambda: raw)
    context = RecordingContext(templates={"ack": ACK})
    result = ReplyAction(ReplySettings(template="ack"))(bounce, context)
    assert result.accepted and context.queued == []
    assert context.logs == [
        ("info", "no reply to message 4: it is automatic mail (Auto-Submitted: auto-replied)")
    ]


def test_move_and_flag_records() -> None:
    context = RecordingContext()
    message = stored_sample(1)
    FlagAction(FlagSettings(add=["\\seen", "handled"]))(message, context)
    MoveAction(MoveSettings(to="Archive"))(message, context)
    assert context.changes == [
        ServerChange(message_id=1, add_flags=("\\Seen", "handled")),
        ServerChange(message_id=1, move_to="Archive"),
    ]


def test_recording_context_checks_what_the_real_context_checks() -> None:
    context = RecordingContext(accounts=["mailer"])
    message = stored_sample(1)
    with pytest.raises(ValueError, match="log level"):
        context.log("loud", "x")
    with pytest.raises(ValueError, match="not an IMAP flag"):
        context.change_on_server(message, add_flags=["two words"])
    with pytest.raises(ValueError, match="needs move_to= or add_flags="):
        context.change_on_server(message)
    with pytest.raises(ValueError, match="naive"):
        context.queue(Message(subject="x"), at=datetime(2030, 1, 1))
    with pytest.raises(LookupError, match="no account 'other'"):
        context.queue(Message(subject="x"), account="other")
    with pytest.raises(LookupError, match="no template 'nope'"):
        context.template("nope")
    context.keep(message, {"a": "1"})
    context.keep(message, {"b": "2"})
    assert context.kept == {1: {"a": "1", "b": "2"}}
