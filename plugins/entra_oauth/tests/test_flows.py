"""The three flows through msal against the fake Entra, then SMTP, IMAP and POP3 servers checking tokens."""

from __future__ import annotations

import json
import webbrowser
from typing import Any

import pytest

from mailconduit import Address, AuthenticationError, Message, replicate
from mailconduit.testing import MailUser

from .conftest import Env

RAW = b"From: a@example.test\r\nSubject: %s\r\nMessage-ID: <%s@example.test>\r\n\r\nbody\r\n"


def _seed(env: Env, user: MailUser, *subjects: str) -> None:
    env.dovecot.seed(user, [RAW % (s.encode(), s.encode()) for s in subjects])


def _login_in_browser(env: Env, monkeypatch: pytest.MonkeyPatch, account: str, user: MailUser) -> Any:
    """``auth login ACCOUNT``; the "browser" signs in and follows the form_post to the local listener."""
    pages: list[str] = []

    def browser(url: str) -> bool:
        pages.append(
            env.idp.browse(
                url, str(env.ca), login=user.address, password=env.idp.users[user.address].password
            )
        )
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    result = env.cli("auth", "login", account, "--timeout", "30")
    assert result.exit_code == 0, result.output
    assert pages and "Signed in" in pages[0]
    return result


def _stored_subjects(outbox: Any, account: str) -> int:
    result = replicate(account, store=outbox.store, plugins=outbox.plugins, config=outbox.config)
    return int(result.stored)


def test_authorization_code_sends_and_replicates_own_and_shared_mailbox(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _login_in_browser(env, monkeypatch, "alice", env.alice)
    assert f"signed in as {env.alice.address}" in result.output
    _seed(env, env.alice, "own-1", "own-2")
    _seed(env, env.shared, "shared-1")
    with env.outbox() as outbox:
        report = outbox.send_now("alice", Message(to=[Address("bob@example.test")], subject="hi", text="hi"))
        assert report.status == "sent", report.reply
        assert _stored_subjects(outbox, "alice") == 2
        # alice_shared has no cache of its own yet: sign in for it too (same user, FullAccess on shared)
    _login_in_browser(env, monkeypatch, "alice_shared", env.alice)
    with env.outbox() as outbox:
        assert _stored_subjects(outbox, "alice_shared") == 1  # POP3, XOAUTH2 user= the shared mailbox
    assert [m.auth_user for m in env.smtp.messages] == [env.alice.address]
    status = env.cli("auth", "status", "alice", "--json")
    (row,) = json.loads(status.output)
    assert row["flow"] == "authorization_code" and row["user"] == env.alice.address
    assert "https://outlook.office.com/SMTP.Send" in row["scopes"] and row["needs_reauth"] is None
    assert row["expires"] and row["last_refresh"]


def test_device_code_sends_and_replicates_over_pop3(env: Env) -> None:
    result = env.cli("auth", "login", "dev", "--device")
    assert result.exit_code == 0, result.output
    assert "enter the code" in result.output
    device_grant = "urn:ietf:params:oauth:grant-type:device_code"
    assert env.idp.token_requests(env.clients["device"], device_grant) == 2  # pending, then the token
    _seed(env, env.dev, "dev-1")
    with env.outbox() as outbox:
        report = outbox.send_now("dev", Message(to=[Address("bob@example.test")], subject="d", text="d"))
        assert report.status == "sent", report.reply
        assert _stored_subjects(outbox, "dev") == 1


def test_client_credentials_with_a_certificate_for_the_granted_mailbox_only(env: Env) -> None:
    _seed(env, env.svc_box, "svc-1")
    with env.outbox() as outbox:
        report = outbox.send_now("svc", Message(to=[Address("bob@example.test")], subject="s", text="s"))
        assert report.status == "sent", report.reply
        assert _stored_subjects(outbox, "svc") == 1
        # one token for both protocols (app-only tokens carry every role), cached encrypted in the store
        assert env.idp.token_requests(env.clients["app"], "client_credentials") == 1
        with pytest.raises(AuthenticationError):  # the app has no grant on alice's mailbox
            _stored_subjects(outbox, "svc_other")
    assert env.smtp.messages[-1].auth_user == env.svc_box.address
