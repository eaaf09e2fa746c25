"""RELIABILITY.md A1 and A3: SIGKILL a replicating process at random times, restart until done.

A child process (``tests/_replication_helpers.py replicate``) replicates a seeded INBOX with
``after_replication: delete`` (A1) or ``move_to: Archive`` (A3) in one ``--everything`` run. The
test kills it with SIGKILL at a uniformly random time inside the run (the window is the measured
length of an uninterrupted run), up to ``KILLS`` times per trial, then lets a last run finish.
Target: every seeded message in the store byte-exact (0 lost), none twice (0 dup), INBOX empty;
with move every message in exactly one of INBOX/Archive (Dovecot advertises MOVE).

Default run: 5 trials over 2,000 messages (a quarter corpus messages, the rest synthetic 2-200 KB),
and 2 move trials over 500. ``-m long``: 20 trials over 10,000.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mailconduit.testing import DovecotServer
from tests import _replication_helpers as helpers
from tests._replication_helpers import (
    account_yaml,
    check_converged,
    child_env,
    folder_count,
    imap_client,
    mixed_messages,
    sha,
    sqlite_store,
    stored_rows,
)

pytestmark = pytest.mark.servers

KILLS = 3


@dataclass
class Sweep:
    """What a kill sweep did, for the assertion messages and the report."""

    trials: int = 0
    kills_landed: int = 0
    runs: int = 0
    seconds: float = 0.0
    clean_run: list[float] = field(default_factory=list)


def run_trial(
    dovecot: DovecotServer,
    ca_pem: Path,
    tmp_path: Path,
    messages: list[bytes],
    rng: random.Random,
    sweep: Sweep,
    *,
    kills: int = KILLS,
    **receive: Any,
) -> Any:
    user = dovecot.add_user()
    dovecot.seed(user, messages)
    if "after_replication" in receive and receive["after_replication"] != "delete":
        dovecot.create_folder(user, "Archive")
    trial = tmp_path / f"trial{sweep.trials}"
    trial.mkdir()
    config = trial / "config.yaml"
    config.write_text(
        account_yaml(
            protocol="imap",
            port=dovecot.imap_port,
            tls="none",
            username=user.name,
            ca_file=ca_pem,
            timeout="20s",
            **receive,
        )
    )
    db = trial / "mail.db"
    script = [sys.executable, helpers.__file__, "replicate", str(config), str(db), "--everything"]
    env = child_env(user.password)
    window = max(sweep.clean_run, default=0.0)
    wanted, kills = kills, 0
    for attempt in range(wanted + 5):
        started = time.monotonic()
        child = subprocess.Popen(script, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sweep.runs += 1
        if kills < wanted:
            try:
                child.wait(timeout=rng.uniform(0.2, 1.0) * window)
            except subprocess.TimeoutExpired:
                child.kill()
                sweep.kills_landed += 1
            kills += 1
        out, err = child.communicate(timeout=600)
        if child.returncode == 0:
            counts = json.loads(out.splitlines()[-1])
            if not wanted:
                sweep.clean_run.append(time.monotonic() - started)
            if counts["remaining"] == 0 and folder_count(dovecot.imap_port, user.name, user.password) == 0:
                break
        else:
            assert child.returncode == -9, f"run {attempt} failed: {err[-3000:]}"
    else:
        raise AssertionError(f"trial {sweep.trials} did not finish after {wanted + 5} runs")
    sweep.trials += 1
    return user, db


def calibrate(
    dovecot: DovecotServer, ca_pem: Path, tmp_path: Path, messages: list[bytes], **receive: Any
) -> float:
    """Seconds an uninterrupted child run takes over ``messages`` (the window kills are drawn from)."""
    sweep = Sweep(trials=-1)
    user, db = run_trial(dovecot, ca_pem, tmp_path, messages, random.Random(0), sweep, kills=0, **receive)
    check_trial(dovecot, user, db, messages, archive=receive.get("after_replication") != "delete")
    dovecot.remove_user_mail(user)
    return sweep.clean_run[-1]


def check_trial(dovecot: DovecotServer, user: Any, db: Path, messages: list[bytes], *, archive: bool) -> None:
    store = sqlite_store(db)
    try:
        check_converged(store, messages)
        assert len(stored_rows(store)) == len(messages)
    finally:
        store.close()
    assert folder_count(dovecot.imap_port, user.name, user.password) == 0, "INBOX is empty"
    if archive:
        client = imap_client(dovecot.imap_port, user.name, user.password)
        try:
            client.select("Archive", readonly=True)
            typ, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
            assert typ == "OK"
            bodies = Counter(sha(part[1]) for part in data if isinstance(part, tuple))
        finally:
            client.logout()
        assert bodies == Counter(sha(m) for m in messages), "every message exactly once in Archive"


def sweep_kills(
    dovecot: DovecotServer,
    ca_pem: Path,
    tmp_path: Path,
    *,
    trials: int,
    count: int,
    seed: int,
    **receive: Any,
) -> Sweep:
    messages = mixed_messages(count, seed, tag=f"kill{seed}")
    rng = random.Random(seed)
    sweep = Sweep()
    started = time.monotonic()
    sweep.clean_run.append(calibrate(dovecot, ca_pem, tmp_path, messages, **receive))
    for _ in range(trials):
        user, db = run_trial(dovecot, ca_pem, tmp_path, messages, rng, sweep, **receive)
        check_trial(dovecot, user, db, messages, archive=receive.get("after_replication") != "delete")
        dovecot.remove_user_mail(user)
    sweep.seconds = time.monotonic() - started
    print(f"kill sweep {receive}: {sweep}")
    assert sweep.kills_landed >= trials, f"too few kills landed inside a run: {sweep}"
    return sweep


@pytest.mark.timeout(900)
def test_a1_kill_sweep_delete_2000_messages_5_trials(
    dovecot: DovecotServer, ca_pem: Path, tmp_path: Path
) -> None:
    sweep_kills(dovecot, ca_pem, tmp_path, trials=5, count=2_000, seed=1, after_replication="delete")


@pytest.mark.timeout(600)
def test_a3_kill_sweep_move_to_archive(dovecot: DovecotServer, ca_pem: Path, tmp_path: Path) -> None:
    sweep_kills(
        dovecot, ca_pem, tmp_path, trials=2, count=500, seed=3, after_replication={"move_to": "Archive"}
    )


@pytest.mark.long
@pytest.mark.timeout(7200)
def test_a1_kill_sweep_delete_10000_messages_20_trials(
    dovecot: DovecotServer, ca_pem: Path, tmp_path: Path
) -> None:
    sweep_kills(dovecot, ca_pem, tmp_path, trials=20, count=10_000, seed=2, after_replication="delete")
