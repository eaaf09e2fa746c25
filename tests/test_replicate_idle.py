"""``watch`` on IDLE against Dovecot: new mail is stored because IDLE woke the watcher, and a Dovecot
restart during IDLE is survived with nothing missed (issue 5 "Done when", IDLE).

The polling interval is set to an hour and the IDLE refresh to 20 minutes, far beyond these tests'
hang guards: a message stored within the guard was found because IDLE reported it (or, after a
reconnect, because every reconnect resyncs against the store), never because a poll came round.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailconduit import RunResult
from mailconduit._replicate import watch
from mailconduit._testing._procs import wait_until
from mailconduit.testing import DovecotServer, MailUser
from tests._replication_helpers import (
    account_yaml,
    check_converged,
    imap_client,
    kill_dovecot,
    load_account,
    plugins,
    restart_dovecot,
    sqlite_store,
    stored_rows,
    synthetic,
)

pytestmark = pytest.mark.servers

GUARD = 30.0  # seconds; poll_every is 1 hour


class Watcher:
    """``watch`` in a thread with a cancel event; records every run's result."""

    def __init__(self, account: Any, db: Path) -> None:
        self.store = sqlite_store(db)
        self.cancel = threading.Event()
        self.results: list[RunResult] = []
        self.error: list[BaseException] = []
        self.total: RunResult | None = None
        self.thread = threading.Thread(target=self._run, args=(account,), daemon=True)

    def _run(self, account: Any) -> None:
        try:
            self.total = watch(
                account,
                store=self.store,
                plugins=plugins(),
                cancel=self.cancel,
                on_result=self.results.append,
            )
        except BaseException as exc:  # recorded for the test's assertions
            self.error.append(exc)

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel.set()
        self.thread.join(GUARD)
        self.store.close()
        assert not self.thread.is_alive(), "watch did not stop after cancel"

    def stored(self) -> int:
        return len(stored_rows(self.store))

    def wait_stored(self, count: int) -> None:
        def check() -> bool:
            assert not self.error, self.error
            return self.stored() >= count

        wait_until(check, f"{count} messages stored by watch", timeout=GUARD)


def idle_account(port: int, user: MailUser, ca_pem: Path, **receive: Any) -> Any:
    text = account_yaml(
        protocol="imap",
        port=port,
        tls="none",
        username=user.name,
        ca_file=ca_pem,
        timeout="10s",
        subscribe=True,
        poll_every="1h",
        idle_refresh="20m",
        **receive,
    )
    return load_account(text, user.password)


@pytest.mark.timeout(90)
def test_a_message_appended_by_another_client_is_stored_woken_by_idle(
    dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path, tmp_path: Path
) -> None:
    first = [synthetic(n, tag="idle") for n in range(3)]
    dovecot.seed(dovecot_user, first)
    account = idle_account(dovecot.imap_port, dovecot_user, ca_pem)
    appended = synthetic(99, 5_000, tag="idle")
    with Watcher(account, tmp_path / "mail.db") as watcher:
        watcher.wait_stored(3)
        time.sleep(0.5)  # let the watcher enter IDLE; a message before that is found by the run anyway
        runs_before = len(watcher.results)
        client = imap_client(dovecot.imap_port, dovecot_user.name, dovecot_user.password)
        try:
            assert client.append("INBOX", None, None, appended)[0] == "OK"
        finally:
            client.logout()
        watcher.wait_stored(4)
        wait_until(lambda: sum(r.stored for r in watcher.results) == 4, "the run's result", timeout=GUARD)
        results = list(watcher.results)
        check_converged(watcher.store, [*first, appended])
    assert not watcher.error
    assert all(r.mode == "idle" for r in results)
    assert results[0].stored == 3
    woken = results[runs_before:]
    assert [r.stored for r in woken][:1] == [1], "the run after the IDLE wake-up stored the appended message"
    assert watcher.total is not None and watcher.total.stored == 4


@pytest.fixture
def private_dovecot(test_ca: Any) -> Iterator[DovecotServer]:
    """A second Dovecot of this test alone (it gets killed and restarted)."""
    server = DovecotServer(test_ca).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(120)
def test_a_dovecot_restart_during_idle_is_survived_and_mail_from_the_outage_is_stored(
    private_dovecot: DovecotServer, ca_pem: Path, tmp_path: Path
) -> None:
    server = private_dovecot
    user = server.add_user()
    before = [synthetic(n, tag="restart") for n in range(2)]
    server.seed(user, before)
    account = idle_account(server.imap_port, user, ca_pem, reconnect_backoff={"initial": "1s", "max": "2s"})
    during = synthetic(50, 2_000, tag="restart")
    after = synthetic(51, 2_000, tag="restart")
    with Watcher(account, tmp_path / "mail.db") as watcher:
        watcher.wait_stored(2)
        time.sleep(0.5)  # in IDLE now
        kill_dovecot(server)
        server.seed(user, [during])  # delivered while the server is down
        time.sleep(1.5)  # the watcher sees the drop and fails to reconnect at least once
        restart_dovecot(server, user)
        watcher.wait_stored(3)
        time.sleep(0.5)  # back in IDLE
        client = imap_client(server.imap_port, user.name, user.password)
        try:
            assert client.append("INBOX", None, None, after)[0] == "OK"
        finally:
            client.logout()
        watcher.wait_stored(4)
        check_converged(watcher.store, [*before, during, after])
    assert not watcher.error, watcher.error
    assert len(watcher.results) >= 3
