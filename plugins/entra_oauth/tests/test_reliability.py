"""RELIABILITY.md M1 (invalid_grant, throttling, expiry), M2 (single-flight), H1 (token endpoint TLS)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailconduit import Credentials, TlsError, TransportError, replicate, watch
from mailconduit.testing import FakeEntra, issue_server_cert, wait_until

from .conftest import Env
from .test_flows import _login_in_browser, _seed

MSAL_MARGIN = timedelta(seconds=300)  # msal treats a token with less left as expired


def _short_lived_sign_in(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign alice in; tokens last 301 s (msal: expired a second later) until the test restores 3600."""
    monkeypatch.setattr(env.idp, "access_token_lifetime", 301)
    _login_in_browser(env, monkeypatch, "alice", env.alice)


def _until_msal_calls_it_expired(credentials: Credentials) -> None:
    assert credentials.expires_at is not None
    due = credentials.expires_at - MSAL_MARGIN + timedelta(seconds=1)
    wait_until(lambda: datetime.now(UTC) >= due, "the token to be due for refresh", timeout=10)


def test_an_expired_token_is_refreshed_and_nothing_is_missed(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    _short_lived_sign_in(env, monkeypatch)
    _seed(env, env.alice, "m1-before")
    with env.outbox() as outbox:
        assert (
            replicate("alice", store=outbox.store, plugins=outbox.plugins, config=outbox.config).stored == 1
        )
        # every token so far (refreshed or not) lasts 301 s: due for refresh a second after it was issued
        first = outbox.plugins.authenticator("entra_oauth").credentials(
            outbox.config.accounts["alice"], "imap"
        )
        monkeypatch.setattr(env.idp, "access_token_lifetime", 3600)
        _until_msal_calls_it_expired(first)
        env.idp.revoke_access_tokens()  # the server refuses the old token now, as Exchange does after expiry
        _seed(env, env.alice, "m1-after")
        refreshes = env.idp.token_requests(env.clients["code"], "refresh_token")
        renewed = first.refresh()  # what a long session's transport calls when expires_within says so
        assert renewed.secret.reveal() != first.secret.reveal()
        assert env.idp.token_requests(env.clients["code"], "refresh_token") == refreshes + 1
        assert (
            replicate("alice", store=outbox.store, plugins=outbox.plugins, config=outbox.config).stored == 1
        )


def test_eight_concurrent_users_cause_one_token_request(env: Env) -> None:
    barrier = threading.Barrier(8)
    tokens: list[str] = []
    with env.outbox() as outbox:
        account = outbox.config.accounts["svc"]

        def worker() -> None:
            barrier.wait()
            authenticator = outbox.plugins.authenticator("entra_oauth")
            tokens.append(authenticator.credentials(account, "imap").secret.reveal())

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert env.idp.token_requests(env.clients["app"]) == 1


def test_invalid_grant_marks_the_account_and_stops_token_requests(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _short_lived_sign_in(env, monkeypatch)
    with env.outbox() as outbox:
        account = outbox.config.accounts["alice"]
        authenticator = outbox.plugins.authenticator("entra_oauth")
        first = authenticator.credentials(account, "imap")
        env.idp.revoke_refresh_tokens(env.alice.address)
        monkeypatch.setattr(env.idp, "access_token_lifetime", 3600)
        _until_msal_calls_it_expired(first)
        with pytest.raises(TransportError, match="invalid_grant") as refused:
            authenticator.credentials(account, "imap")
        assert not refused.value.temporary
        requests = env.idp.token_requests(env.clients["code"])
        for _ in range(3):
            with pytest.raises(TransportError, match="needs a new sign-in"):
                authenticator.credentials(account, "smtp")
        assert env.idp.token_requests(env.clients["code"]) == requests  # no further token request
    assert any("needs a new sign-in" in r.getMessage() for r in caplog.records)
    (row,) = json.loads(env.cli("auth", "status", "alice", "--json").output)
    assert "invalid_grant" in row["needs_reauth"] and "AADSTS700082" in row["needs_reauth"]
    _login_in_browser(env, monkeypatch, "alice", env.alice)  # a new sign-in clears the mark
    (row,) = json.loads(env.cli("auth", "status", "alice", "--json").output)
    assert row["needs_reauth"] is None


def test_throttling_backs_off_without_requests(env: Env) -> None:
    env.idp.inject(429, "temporarily_unavailable", 50196, retry_after=120, client_id=env.clients["app"])
    with env.outbox() as outbox:
        account = outbox.config.accounts["svc"]
        authenticator = outbox.plugins.authenticator("entra_oauth")
        for _ in range(3):
            with pytest.raises(TransportError, match=r"HTTP 429|asked to wait") as throttled:
                authenticator.credentials(account, "imap")
            assert throttled.value.temporary
    assert env.idp.token_requests(env.clients["app"]) == 1


@pytest.mark.parametrize("problem", ["wrong_ca", "wrong_host"])
def test_token_endpoint_tls_is_verified(
    env: Env, problem: str, test_ca: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = env.config.read_text()
    if problem == "wrong_ca":
        import trustme

        other = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        # the app provider is the last one before accounts:
        env.config.write_text(
            config.replace(f"    ca_file: {env.ca}\naccounts", f"    ca_file: {other}\naccounts")
        )
        with env.outbox() as outbox, pytest.raises(TlsError):
            outbox.plugins.authenticator("entra_oauth").credentials(outbox.config.accounts["svc"], "imap")
        return
    wrong = issue_server_cert(test_ca, tmp_path / "wrong", "wrong_host")
    with FakeEntra(wrong) as impostor:
        client = impostor.add_client(secret="x")
        env.config.write_text(
            config.replace(env.idp.base, impostor.base)
            .replace(env.idp.tenant, impostor.tenant)
            .replace(env.clients["app"], client.client_id)
        )
        with env.outbox() as outbox, pytest.raises(TlsError):
            outbox.plugins.authenticator("entra_oauth").credentials(outbox.config.accounts["svc"], "imap")
        assert impostor.token_requests() == 0


def test_a_long_idle_session_logs_in_again_before_its_token_lapses_and_misses_nothing(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 7: a token lapsing inside a live IDLE session is renewed by logging in again, then resynced."""
    _short_lived_sign_in(env, monkeypatch)  # alice's tokens last 301 s until the first login is made
    logins: list[Credentials] = []
    stored: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()
    _seed(env, env.alice, "idle-before")
    with env.outbox() as outbox:
        # a 299 s margin makes the 301 s token due for a new login 2 s after it was issued
        watcher = threading.Thread(
            target=watch,
            args=("alice",),
            kwargs={
                "store": outbox.store,
                "plugins": outbox.plugins,
                "config": outbox.config,
                "cancel": stop,
                "on_result": lambda result: stored.append(result.stored),
                "on_failure": failures.append,
                "on_login": lambda credentials: logins.append(credentials),
                "token_margin": timedelta(seconds=299),
            },
            daemon=True,
        )
        watcher.start()
        try:
            wait_until(lambda: len(logins) >= 1, "the first login", timeout=30)
            monkeypatch.setattr(env.idp, "access_token_lifetime", 3600)  # renewed tokens last an hour
            wait_until(lambda: sum(stored) == 1, "the first message to be stored", timeout=30)
            wait_until(lambda: len(logins) >= 2, "a second login before the first token lapses", timeout=30)
            env.idp.revoke_access_tokens()  # the first token is refused from now on, as after expiry
            monkeypatch.setattr(env.idp, "access_token_lifetime", 3600)
            _seed(env, env.alice, "idle-after")
            wait_until(lambda: sum(stored) == 2, "the message delivered after the new login", timeout=60)
        finally:
            stop.set()
            watcher.join(30)
    assert not watcher.is_alive()
    first, second = logins[0], logins[1]
    assert first.secret.reveal() != second.secret.reveal()
    assert second.expires_at is not None and first.expires_at is not None
    assert second.expires_at > first.expires_at
    assert [f for f in failures if not isinstance(f, TransportError) or not f.temporary] == []
    assert sum(stored) == 2


_TOKEN_PROCESS = """
import sys, time
from pathlib import Path
from mailconduit import Outbox
config, db, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
with Outbox.open(config, db_url=db) as outbox:
    account = outbox.config.accounts["svc"]
    authenticator = outbox.plugins.authenticator("entra_oauth")
    while not go.exists():
        time.sleep(0.005)
    print(authenticator.credentials(account, "imap").secret.reveal() == "" and "empty" or "ok")
"""


def test_four_processes_sharing_a_postgresql_store_cause_one_token_request(
    env: Env, postgres_url: str, tmp_path: Path
) -> None:
    """Issue 7: one token request at a time per account across runners, not just threads."""
    import subprocess
    import sys
    import time

    upgraded = env.cli("--db", postgres_url, "db", "upgrade")  # migrated once, before the processes race
    assert upgraded.exit_code == 0, upgraded.output
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _TOKEN_PROCESS, str(env.config), postgres_url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(3)  # every process has imported, opened the store and is waiting for the signal
    go.touch()
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], [err[-2000:] for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == ["ok"] * 4
    assert env.idp.token_requests(env.clients["app"]) == 1
