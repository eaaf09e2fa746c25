"""RELIABILITY.md A8 through the runner: a second client churns the folder while it replicates.

The runner runs in this process with one polling pipeline (every 2 s) on Dovecot; another IMAP
client APPENDs, flags and expunges at ~50 operations per second (default 30 s, ``-m long`` 5
minutes). Every message's life on the server is known to the test: from the APPEND's reply to
the moment its expunge was sent (or the end, for the survivors).

Asserted: every message that was on the server for the whole of some run (the run's window from
its start to its end, from ``RunResult.duration``), and so every message that lived at least one
poll cycle, is stored; every message that lived ≥ 1 poll interval is counted and printed; 0
exceptions escape (no ``on_run_error``, no error logged, the pipeline never in error); 0
duplicates, and every stored row is byte-exact one of the appended messages.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from pathlib import Path

import pytest

from mailconduit import RunInfo, RunResult, hookimpl, load_config, load_plugins
from mailconduit._runner import Runner, read_status
from mailconduit._store import open_store
from mailconduit._testing._procs import wait_until
from mailconduit.testing import DovecotServer
from tests._runner_helpers import (
    AccountSpec,
    Appender,
    check_incoming_converged,
    message,
    passwords,
    runner_yaml,
    stored_by_subject,
)

pytestmark = pytest.mark.servers

POLL = 2.0
RATE = 50.0  # operations per second


class Errors(logging.Handler):
    """Records every error logged under ``mailconduit`` and every ``on_run_error``."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())

    @hookimpl
    def on_run_error(self, error: BaseException, run: RunInfo) -> None:
        self.seen.append(f"on_run_error: {type(error).__name__}: {error}")


def _churn(dovecot: DovecotServer, ca_pem: Path, tmp_path: Path, *, seconds: float, seed: int) -> None:
    rng = random.Random(seed)
    user = dovecot.add_user()
    spec = AccountSpec("acct", user, dovecot.imap_port, receive={"poll_every": f"{POLL:g}s"})
    text = runner_yaml(tmp_path / "mc.db", ca_pem, [spec], {"inbox": {"receive": "acct", "subscribe": False}})
    errors = Errors()
    plugins = load_plugins(extra=[("errors", errors)])
    config = load_config(text, plugins, environ=passwords([spec]))
    store = open_store(config.database)
    runs: list[tuple[float, float]] = []
    lock = threading.Lock()

    def on_result(_name: str, result: RunResult) -> None:
        end = time.time()
        with lock:
            runs.append((end - result.duration.total_seconds() - 0.1, end))

    runner = Runner(config, store, plugins, outbox=False, on_result=on_result)
    logger = logging.getLogger("mailconduit")
    logger.addHandler(errors)
    churner = Appender(dovecot.imap_port, user)
    raws: dict[str, bytes] = {}
    born: dict[str, float] = {}
    died: dict[str, float] = {}
    live: dict[str, int] = {}
    ops = {"append": 0, "flag": 0, "expunge": 0}
    try:
        runner.start()
        wait_until(lambda: runs, "the first run", timeout=30)
        start = time.time()
        n = 0
        while time.time() - start < seconds:
            due = start + sum(ops.values()) / RATE
            time.sleep(max(0.0, due - time.time()))
            choice = rng.random()
            if choice < 0.4 or len(live) < 5:
                subject = f"a8 {n}"
                raws[subject] = message("a8", n, size=rng.randint(300, 3000))
                live[subject] = churner.append(subject, raws[subject])
                born[subject] = time.time()  # on the server from the APPEND's reply on
                n += 1
                ops["append"] += 1
            elif choice < 0.7:
                uid = live[rng.choice(list(live))]
                churner.flag(uid, rng.choice([r"\Flagged", r"-\Flagged", r"\Seen", r"-\Seen", "$Churn"]))
                ops["flag"] += 1
            else:
                subject = rng.choice(list(live))
                died[subject] = time.time()  # gone from the server at the latest from now on
                churner.expunge(live.pop(subject))
                ops["expunge"] += 1
        elapsed = time.time() - start
        end = time.time()
        wait_until(lambda: runs[-1][0] > end + 0.2, "a run after the churn", timeout=30)
        report = read_status(store, config)
    finally:
        runner.stop(timeout=30)
        churner.close()
        logger.removeHandler(errors)
    try:
        stored = stored_by_subject(store)
        check_incoming_converged(store, [raws[s] for s in stored])  # byte-exact, each once
    finally:
        store.close()
    assert set(stored) <= set(raws), "a stored message the churn never appended"

    def life(subject: str) -> tuple[float, float]:
        return born[subject], died.get(subject, float("inf"))

    must = {s for s in raws if any(life(s)[0] <= a and b <= life(s)[1] for a, b in runs)}
    missed = sorted(must - set(stored))
    lived_interval = {s for s in raws if life(s)[1] - life(s)[0] >= POLL}
    longest_run = max(b - a for a, b in runs)
    total = sum(ops.values())
    cycle = {s for s in raws if life(s)[1] - life(s)[0] >= POLL + 2 * longest_run}
    print(
        f"\nA8: {total} operations in {elapsed:.0f} s ({total / elapsed:.0f}/s: {ops}); "
        f"{len(runs)} runs, longest {longest_run:.2f} s; {len(stored)} of {len(raws)} appended stored; "
        f"{len(must)} were on the server through a whole run; lived >= 1 poll interval: "
        f"{len(lived_interval & set(stored))} of {len(lived_interval)} stored; lived >= 1 poll cycle: "
        f"{len(cycle & set(stored))} of {len(cycle)} stored; errors: {len(errors.seen)}"
    )
    assert not missed, (
        f"{len(missed)} messages on the server through a whole run were not stored: {missed[:5]}"
    )
    assert cycle <= set(stored)
    assert not errors.seen, errors.seen[:5]
    (pipeline,) = report.pipelines
    assert (pipeline.state, pipeline.mode, pipeline.healthy, pipeline.last_error) == (
        "running",
        "polling",
        True,
        None,
    )
    assert total / elapsed >= RATE * 0.8, "the churn fell behind its rate"


@pytest.mark.timeout(120)
def test_a8_churn_at_50_ops_a_second_for_30_s_every_lasting_message_stored_once(
    dovecot: DovecotServer, ca_pem: Path, tmp_path: Path
) -> None:
    _churn(dovecot, ca_pem, tmp_path, seconds=30.0, seed=8)


@pytest.mark.long
@pytest.mark.timeout(600)
def test_a8_full_churn_for_5_minutes(dovecot: DovecotServer, ca_pem: Path, tmp_path: Path) -> None:
    _churn(dovecot, ca_pem, tmp_path, seconds=300.0, seed=88)


def test_a_message_expunged_by_another_client_between_listing_and_fetch_is_skipped(
    dovecot: DovecotServer, ca_pem: Path
) -> None:
    """Dovecot answers ``BODY[] NIL`` (and ``[EXPUNGEISSUED]``) for it: gone, not a hostile server."""
    from mailconduit._replicate._open import open_with_credentials

    user = dovecot.add_user()
    spec = AccountSpec("acct", user, dovecot.imap_port)
    config = load_config(
        runner_yaml(Path("unused.db"), ca_pem, [spec], {}), load_plugins(), environ=passwords([spec])
    )
    other = Appender(dovecot.imap_port, user)
    mailbox, _ = open_with_credentials(config.account("acct"), load_plugins())
    try:
        uids = [other.append(f"gone {n}", message("gone", n)) for n in range(3)]
        refs = mailbox.list_new("INBOX", (), True, None)
        assert len(refs) == 3
        other.expunge(uids[1])
        fetched = [mail.data for mail in mailbox.fetch("INBOX", refs)]
        assert fetched == [message("gone", 0), message("gone", 2)]
    finally:
        mailbox.close()
        other.close()
