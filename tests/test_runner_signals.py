"""``mailconduit run`` as a real process: SIGHUP reloads, SIGTERM stops after the batch in hand.

* SIGHUP with a pipeline added to the YAML starts it (its mail is stored, status shows it); a
  YAML that does not parse and one that names an unknown account are refused and logged, and
  the running configuration keeps replicating.
* SIGTERM while a pipeline replicates with ``after_replication: delete`` and the outbox sends to
  aiosmtpd: the process exits 0; nothing is half-applied (no message left on the server *and*
  deleted, none gone from the server without being stored, no outgoing message left claimed);
  a later ``run --once`` finishes the rest with 0 lost and 0 duplicated.
* ``--log-format json`` writes one JSON object per line on stderr, and no password appears in
  the logs (the passwords are K1 canaries; the sweep reads the log files too).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from mailconduit import Address, Message, load_config, load_plugins
from mailconduit._message import MessageStatus
from mailconduit._outbox import Outbox
from mailconduit._replicate._plan import BATCH_SIZE
from mailconduit._store import open_store
from mailconduit._store._models import Direction, MessageRow
from mailconduit._testing._procs import wait_until
from mailconduit.testing import DovecotServer, MailUser, SmtpServer, free_port
from tests._replication_helpers import check_converged, folder_count
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


class RunProcess:
    """``python -m mailconduit --config FILE run ARGS`` with stderr in a file."""

    def __init__(self, config_file: Path, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mailconduit", "--config", str(config_file), "run", *args],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=self.handle,
        )

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def records(self) -> list[dict[str, Any]]:
        """Every log line, parsed (each must be one JSON object)."""
        out = []
        for line in self.lines():
            record = json.loads(line)
            assert isinstance(record, dict), line
            out.append(record)
        return out

    def logged(self, text: str) -> bool:
        return any(text in r["message"] for r in self.records())

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.handle.close()


@pytest.fixture
def processes() -> Iterator[list[RunProcess]]:
    started: list[RunProcess] = []
    yield started
    for proc in started:
        proc.stop()


def cli(config_file: Path, env: dict[str, str], *args: str) -> Result:
    from mailconduit._cli import cli as command

    return CliRunner().invoke(command, ["--config", str(config_file), *args], env=env)


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def states(port: int) -> dict[str, str]:
    """Each pipeline's state on ``/health`` (empty while the endpoint is not up)."""
    try:
        return {p["name"]: p["state"] for p in health(port)[1]["pipelines"]}
    except OSError:
        return {}


def no_secret_in(log: Path, users: list[MailUser]) -> None:
    text = log.read_text(errors="replace")
    for user in users:
        assert user.password not in text, "a password reached the log"


@pytest.mark.timeout(150)
def test_sighup_starts_an_added_pipeline_refuses_a_broken_config_and_sigterm_exits_0(
    dovecot: DovecotServer, ca_pem: Path, tmp_path: Path, processes: list[RunProcess]
) -> None:
    first, second = dovecot.add_user(), dovecot.add_user()
    dovecot.seed(second, [message("hup-b", n) for n in range(3)])
    receive = {"idle_refresh": "10s", "poll_every": "1h"}
    specs = [
        AccountSpec("a", first, dovecot.imap_port, receive=receive),
        AccountSpec("b", second, dovecot.imap_port, receive=receive),
    ]
    env = passwords(specs)
    port = free_port()
    db = tmp_path / "mc.db"
    config_file = tmp_path / "mailconduit.yaml"

    def write(pipelines: dict[str, dict[str, Any]]) -> None:
        config_file.write_text(runner_yaml(db, ca_pem, specs, pipelines, runner={"watchdog_intervals": 3}))

    write({"pa": {"receive": "a", "subscribe": True}})
    assert cli(config_file, env, "db", "upgrade").exit_code == 0
    run = RunProcess(
        config_file, env, tmp_path / "run.log", "--log-format", "json", "--health-port", str(port)
    )
    processes.append(run)
    wait_until(lambda: states(port) == {"pa": "running"}, "pipeline pa running", timeout=30)
    appender = Appender(dovecot.imap_port, first)
    try:
        appender.append("hup-a 1", message("hup-a", 1))
        wait_until(lambda: "hup-a 1" in subjects(db), "hup-a 1 stored", timeout=20)

        # a pipeline added to the YAML starts on SIGHUP
        write({"pa": {"receive": "a", "subscribe": True}, "pb": {"receive": "b", "subscribe": True}})
        run.signal(signal.SIGHUP)
        wait_until(
            lambda: states(port) == {"pa": "running", "pb": "running"}, "pb started by the reload", timeout=30
        )
        wait_until(lambda: {f"hup-b {n}" for n in range(3)} <= subjects(db), "pb's mail stored", timeout=20)
        assert run.logged("reloading the configuration")

        # a YAML that does not parse, then one naming an unknown account: refused, the old one runs
        good = config_file.read_text()
        for broken in ("pipelines: [\n", good.replace("receive: b,", "receive: nobody,")):
            config_file.write_text(broken)
            refusals = sum("reload refused" in r["message"] for r in run.records())
            run.signal(signal.SIGHUP)
            wait_until(
                lambda n=refusals: sum("reload refused" in r["message"] for r in run.records()) > n,
                "the reload refused and logged",
                timeout=10,
            )
        assert run.proc.poll() is None, "the runner died on a broken configuration"
        config_file.write_text(good)
        appender.append("hup-a 2", message("hup-a", 2))
        wait_until(lambda: "hup-a 2" in subjects(db), "hup-a 2 stored after the refused reloads", timeout=20)
        code, report = health(port)
        assert code == 200 and {p["name"] for p in report["pipelines"]} == {"pa", "pb"}
        refused = [r for r in run.records() if "reload refused" in r["message"]]
        assert len(refused) == 2 and all(r["level"] == "error" for r in refused)
        assert "nobody" in refused[1]["message"], refused[1]
    finally:
        appender.close()

    run.signal(signal.SIGTERM)
    assert run.proc.wait(60) == 0
    records = run.records()  # every line parsed as one JSON object
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any("stopping after the batch in hand (signal SIGTERM)" in r["message"] for r in records)
    assert "stopped" in records[-1]["message"]
    no_secret_in(run.log, [first, second])
    status = cli(config_file, env, "status", "--json")
    assert status.stdout, (status.output, status.exception)
    final = json.loads(status.stdout)
    assert {p["name"]: p["state"] for p in final["pipelines"]} == {"pa": "stopped", "pb": "stopped"}
    check_converged(
        open_store(f"sqlite:///{db}"),
        [message("hup-a", 1), message("hup-a", 2)] + [message("hup-b", n) for n in range(3)],
    )


def subjects(db: Path) -> set[str]:
    store = open_store(f"sqlite:///{db}")
    try:
        return set(stored_by_subject(store))
    finally:
        store.close()


COUNT_IN, COUNT_OUT = 3000, 400


@pytest.mark.timeout(180)
def test_sigterm_mid_batch_leaves_nothing_half_applied_and_a_rerun_finishes_exactly_once(
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    ca_pem: Path,
    tmp_path: Path,
    processes: list[RunProcess],
) -> None:
    user = dovecot.add_user()
    smtp_server.add_user(user.name, user.password)
    seeded = [message("term", n, size=400) for n in range(COUNT_IN)]
    dovecot.seed(user, seeded)
    spec = AccountSpec(
        "acct",
        user,
        dovecot.imap_port,
        receive={"after_replication": "delete", "messages_per_run": COUNT_IN, "poll_every": "1h"},
        send_port=smtp_server.starttls_port,
    )
    env = passwords([spec])
    db = tmp_path / "mc.db"
    config_file = tmp_path / "mailconduit.yaml"
    config_file.write_text(runner_yaml(db, ca_pem, [spec], {"inbox": {"receive": "acct"}}))
    assert cli(config_file, env, "db", "upgrade").exit_code == 0
    plugins = load_plugins()
    config = load_config(config_file, plugins, environ=env)
    store = open_store(config.database)
    try:
        outbox = Outbox(store, config, plugins)
        for n in range(COUNT_OUT):
            outbox.queue(
                "acct", Message(to=[Address(f"to{n}@example.test")], subject=f"out {n}", text="hello\n")
            )

        run = RunProcess(config_file, env, tmp_path / "run.log", "--log-format", "json")
        processes.append(run)

        def busy() -> bool:
            return len(incoming(store)) > 0 and len(smtp_server.messages) > 0

        wait_until(busy, "replicating and sending", timeout=30, interval=0.01)
        time.sleep(0.2)  # into the second batch of 500
        run.signal(signal.SIGTERM)
        assert run.proc.wait(60) == 0
        stored_at_stop = incoming(store)
        on_server = folder_count(dovecot.imap_port, user.name, user.password)
        sent_at_stop = len(smtp_server.messages)
        outgoing = outgoing_states(store)
        print(
            f"\nSIGTERM: {len(stored_at_stop)} of {COUNT_IN} stored, {on_server} still on the server; "
            f"{sent_at_stop} of {COUNT_OUT} sent; outbox {dict(outgoing)}"
        )
        assert len(stored_at_stop) < COUNT_IN or sent_at_stop < COUNT_OUT, "the stop came too late to test"
        # nothing deleted from the server without being stored first
        assert len(stored_at_stop) + on_server == COUNT_IN, "stored batches are deleted, nothing else"
        assert len(stored_at_stop) % BATCH_SIZE == 0, "the stop cut a batch short"
        assert outgoing[MessageStatus.SENDING] == 0, "a message was left claimed"
        assert outgoing[MessageStatus.SENT] == sent_at_stop, "the server's 250 and the outbox disagree"
        assert run.logged("stopping after the batch in hand (signal SIGTERM)")
        no_secret_in(run.log, [user])

        again = cli(config_file, env, "run", "--once", "--json")
        assert again.exit_code == 0, again.output
        check_incoming_converged(store, seeded)
        assert folder_count(dovecot.imap_port, user.name, user.password) == 0
        received = Counter(
            m.data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0] for m in smtp_server.messages
        )
        assert len(received) == COUNT_OUT and max(received.values()) == 1, "lost or sent twice"
        assert outgoing_states(store) == Counter({MessageStatus.SENT: COUNT_OUT})
    finally:
        store.close()


def incoming(store: Any) -> list[str]:
    return [r.sha256 for rows in stored_by_subject(store).values() for r in rows]


def outgoing_states(store: Any) -> Counter[str]:
    with store.session(readonly=True) as session:
        query = (
            select(MessageRow.status, func.count())
            .where(MessageRow.direction == Direction.OUTGOING)
            .group_by(MessageRow.status)
        )
        counts: Counter[str] = Counter()
        for status, count in session.execute(query):
            counts[status] = count
        return counts
