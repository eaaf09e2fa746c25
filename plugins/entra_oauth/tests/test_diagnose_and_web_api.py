"""`auth diagnose` (token claims, never the token; a login per protocol; likely cause) and the web-app API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from mailconduit import Address, AuthenticationError, Message
from mailconduit.testing import find_canaries
from mailconduit_entra_oauth import APP_SCOPE, begin_sign_in, complete_sign_in

from .conftest import Env


def _no_token_in(output: str) -> None:
    assert find_canaries(output.encode()) == []
    assert "eyJ" not in output  # no JWT (header, id or access token) in any form


def test_diagnose_app_only_shows_claims_and_a_login_per_protocol_without_the_token(env: Env) -> None:
    result = env.cli("auth", "diagnose", "svc")
    assert result.exit_code == 0, result.output
    assert env.idp.token_requests(env.clients["app"], "client_credentials") >= 1  # a token was there
    _no_token_in(result.output)
    lines = [line.strip() for line in result.output.splitlines()]
    assert "smtp (send, 127.0.0.1):" in lines and "imap (receive, 127.0.0.1):" in lines
    assert "roles: SMTP.SendAsApp IMAP.AccessAsApp POP.AccessAsApp" in lines
    assert f"aud: {APP_SCOPE.rpartition('/')[0]}" in lines  # the Exchange resource of .default
    assert f"tid: {env.idp.tenant}" in lines
    assert f"login as: {env.svc_box.address}" in lines
    assert any(line.startswith("expires: ") for line in lines)
    assert lines.count("login: OK") == 2


def test_diagnose_maps_a_refused_mailbox_to_its_likely_cause(env: Env) -> None:
    result = env.cli("auth", "diagnose", "svc_other")  # the app has no grant on alice's mailbox
    assert result.exit_code == 1, result.output
    _no_token_in(result.output)
    assert "roles: SMTP.SendAsApp IMAP.AccessAsApp POP.AccessAsApp" in result.output
    assert "login: FAILED" in result.output
    assert "[AUTHENTICATIONFAILED]" in result.output  # Dovecot's reply, mapped like Exchange's
    assert "likely cause: IMAP refused the token (see `AUTHENTICATE failed`)" in result.output
    assert "mailbox permission" in result.output


class _Callback:
    """The web application's callback on 127.0.0.1: keeps the form_post parameters it receives."""

    def __init__(self) -> None:
        received: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                received.append({k: v[0] for k, v in parse_qs(raw).items()})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                """Nothing: the callback carries an authorization code."""

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callback() -> Iterator[_Callback]:
    server = _Callback()
    yield server
    server.close()


def _browse(env: Env, url: str) -> None:
    password = env.idp.users[env.alice.address].password
    env.idp.browse(url, str(env.ca), login=env.alice.address, password=password)


def test_web_app_sign_in_with_state_pkce_and_nonce_then_send(env: Env, callback: _Callback) -> None:
    with env.outbox() as outbox:
        context, account = outbox.plugins.auth_context, outbox.config.accounts["alice"]
        assert context is not None  # Outbox.open attached the store's auth context
        url, state = begin_sign_in(account, context=context, redirect_uri=callback.uri)
        assert url.startswith(f"{env.idp.authority}/oauth2/v2.0/authorize?")
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        assert query["state"] == state and query["client_id"] == env.clients["code"]
        assert query["code_challenge"] and query["code_challenge_method"] == "S256"
        assert query["nonce"] and query["response_mode"] == "form_post"
        assert query["redirect_uri"] == callback.uri
        _browse(env, url)
        (params,) = callback.received
        assert params["state"] == state and params["code"]
        done = complete_sign_in(account, params, context=context)
        assert done.account == "alice" and done.username == env.alice.address
        assert "https://outlook.office.com/SMTP.Send" in done.scopes
        report = outbox.send_now("alice", Message(to=[Address("bob@example.test")], subject="w", text="w"))
        assert report.status == "sent", report.reply
    assert env.smtp.messages[-1].auth_user == env.alice.address
    assert env.idp.token_requests(env.clients["code"], "authorization_code") == 1


def test_web_app_callback_with_another_state_is_refused(env: Env, callback: _Callback) -> None:
    with env.outbox() as outbox:
        context, account = outbox.plugins.auth_context, outbox.config.accounts["alice"]
        assert context is not None  # Outbox.open attached the store's auth context
        url, state = begin_sign_in(account, context=context, redirect_uri=callback.uri)
        _browse(env, url)
        (params,) = callback.received
        forged = dict(params, state="not-" + state)
        with pytest.raises(AuthenticationError, match="state matches no sign-in in progress") as refused:
            complete_sign_in(account, forged, context=context)
        assert params["code"] not in str(refused.value)
        assert env.idp.token_requests(env.clients["code"], "authorization_code") == 0
        # the refused callback did not consume the genuine sign-in
        assert complete_sign_in(account, params, context=context).username == env.alice.address
