"""End-to-end POP3 replication into the store against the private Dovecot (issue 5 "Done when", A10).

STLS and POP3S store every seeded message once, byte for byte, keyed by UIDL; a second run stores
nothing; oldest / latest / limit / everything select exactly the expected messages; delete after
replication removes exactly the stored ones; a process killed between the DELEs and QUIT deletes
nothing on the server (RFC 1939 UPDATE state) and the rerun stores no duplicate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mailconduit import ConfigError
from mailconduit._replicate import replicate
from mailconduit._store import Store
from mailconduit.testing import DovecotServer, MailUser
from tests import _replication_helpers as helpers
from tests._replication_helpers import (
    account_yaml,
    check_converged,
    child_env,
    corpus_messages,
    folder_count,
    load_account,
    plugins,
    served_as_seeded,
    sha,
    sqlite_store,
    stored_rows,
    synthetic,
)

pytestmark = pytest.mark.servers


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = sqlite_store(tmp_path / "mail.db")
    yield opened
    opened.close()


def pop3_yaml(
    dovecot: DovecotServer, user: MailUser, ca_pem: Path, tls: str = "starttls", **receive: Any
) -> str:
    port = dovecot.pop3s_port if tls == "tls" else dovecot.pop3_port
    return account_yaml(
        protocol="pop3", port=port, tls=tls, username=user.name, ca_file=ca_pem, timeout="10s", **receive
    )


def pop3_account(
    dovecot: DovecotServer, user: MailUser, ca_pem: Path, tls: str = "starttls", **receive: Any
) -> Any:
    return load_account(pop3_yaml(dovecot, user, ca_pem, tls, **receive), user.password)


def stored_indexes(store: Store, messages: list[bytes]) -> list[int]:
    """Which seeded messages (by position) the store holds, in store order."""
    where = {sha(m): i for i, m in enumerate(messages)}
    return [where[r.sha256] for r in stored_rows(store)]


@pytest.mark.parametrize("tls", ["none", "starttls", "tls"])
def test_every_message_once_byte_exact_and_a_second_run_stores_nothing(
    tls: str, dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path, store: Store
) -> None:
    corpus = [d for _, d in corpus_messages() if served_as_seeded(d)][:15]
    messages = corpus + [synthetic(n, 400 + 1499 * n, tag="pop") for n in range(25)]
    dovecot.seed(dovecot_user, messages)
    account = pop3_account(dovecot, dovecot_user, ca_pem, tls, replicate_everything=True, messages_per_run=15)

    first = replicate(account, store=store, plugins=plugins())
    assert (first.fetched, first.stored, first.failed, first.remaining) == (40, 40, 0, 0)
    check_converged(store, messages)
    rows = stored_rows(store)
    assert all(r.uidl and r.uid is None for r in rows) and len({r.uidl for r in rows}) == 40
    assert stored_indexes(store, messages) == list(range(40))

    second = replicate(account, store=store, plugins=plugins())
    assert (second.fetched, second.stored, second.remaining) == (0, 0, 0)
    assert len(stored_rows(store)) == 40
    assert folder_count(dovecot.imap_port, dovecot_user.name, dovecot_user.password) == 40


def test_oldest_latest_limit_and_everything_select_exactly(
    dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path, store: Store
) -> None:
    messages = [synthetic(n, tag="popsel") for n in range(20)]
    dovecot.seed(dovecot_user, messages)
    oldest = pop3_account(dovecot, dovecot_user, ca_pem, messages_per_run=3)
    latest = pop3_account(dovecot, dovecot_user, ca_pem, messages_per_run=3, fetch_strategy="latest")

    def taken() -> list[int]:
        return sorted(stored_indexes(store, messages))

    run = replicate(oldest, store=store, plugins=plugins())
    assert (run.stored, run.remaining) == (3, 17) and taken() == [0, 1, 2]
    run = replicate(latest, store=store, plugins=plugins())
    assert (run.stored, run.remaining) == (3, 14) and taken() == [0, 1, 2, 17, 18, 19]
    run = replicate(latest, store=store, plugins=plugins(), limit=1)
    assert run.stored == 1 and taken() == [0, 1, 2, 16, 17, 18, 19]
    run = replicate(oldest, store=store, plugins=plugins(), limit=5)
    assert run.stored == 5 and taken() == [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19]
    run = replicate(oldest, store=store, plugins=plugins(), everything=True)
    assert (run.stored, run.remaining) == (8, 0) and taken() == list(range(20))
    check_converged(store, messages)


def test_delete_removes_exactly_the_stored_messages(
    dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path, store: Store
) -> None:
    messages = [synthetic(n, tag="popdel") for n in range(12)]
    dovecot.seed(dovecot_user, messages)
    account = pop3_account(
        dovecot, dovecot_user, ca_pem, "tls", after_replication="delete", messages_per_run=5
    )
    run = replicate(account, store=store, plugins=plugins())
    assert (run.stored, run.deleted) == (5, 5)
    assert folder_count(dovecot.imap_port, dovecot_user.name, dovecot_user.password) == 7
    run = replicate(account, store=store, plugins=plugins(), everything=True)
    assert (run.stored, run.deleted, run.remaining) == (7, 7, 0)
    assert folder_count(dovecot.imap_port, dovecot_user.name, dovecot_user.password) == 0
    check_converged(store, messages)


def test_a_folder_is_refused_before_anything_is_fetched(
    dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path, store: Store
) -> None:
    dovecot.seed(dovecot_user, [synthetic(1, tag="popfolder")])
    with pytest.raises(ConfigError, match="folder: must stay unset for pop3"):
        pop3_account(dovecot, dovecot_user, ca_pem, folder="Archive")
    account = pop3_account(dovecot, dovecot_user, ca_pem)
    with pytest.raises(ConfigError, match="no folders besides INBOX"):
        replicate(account, store=store, plugins=plugins(), folder="Archive")
    assert stored_rows(store) == []


def test_a10_kill_between_dele_and_quit_deletes_nothing_and_the_rerun_stores_no_dup(
    dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path, tmp_path: Path
) -> None:
    messages = [synthetic(n, 3_000, tag="a10") for n in range(30)]
    dovecot.seed(dovecot_user, messages)
    config = tmp_path / "config.yaml"
    config.write_text(
        pop3_yaml(dovecot, dovecot_user, ca_pem, after_replication="delete", messages_per_run=30)
    )
    db = tmp_path / "mail.db"
    script = [sys.executable, helpers.__file__, "replicate", str(config), str(db)]
    env = child_env(dovecot_user.password)

    killed = subprocess.run(
        [*script, "--kill-before-quit"], env=env, capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert json.loads(killed.stdout.splitlines()[-1]) == {"killed_after_dele": 30}
    assert folder_count(dovecot.imap_port, dovecot_user.name, dovecot_user.password) == 30, "0 deleted"

    rerun = subprocess.run(script, env=env, capture_output=True, text=True, timeout=120, check=True)
    counts = json.loads(rerun.stdout.splitlines()[-1])
    assert (counts["stored"], counts["deleted"], counts["remaining"]) == (0, 30, 0)
    assert folder_count(dovecot.imap_port, dovecot_user.name, dovecot_user.password) == 0
    store = sqlite_store(db)
    try:
        check_converged(store, messages)
        assert len(stored_rows(store)) == 30
    finally:
        store.close()
