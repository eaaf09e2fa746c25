"""`mailconduit run` and `mailconduit status` end to end against the private Dovecot.

``run --once`` runs every pipeline once through its steps and reports each; the long-running
runner replicates with IDLE as mail arrives, records each run on the status board, and stops
cleanly; ``status`` shows mode, last success and lag, and fails (exit 1) for a pipeline that has
never run.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailconduit import load_config, load_plugins
from mailconduit._runner import Runner, read_status
from mailconduit._store import open_store
from mailconduit.testing import DovecotServer, MailUser

pytestmark = pytest.mark.servers

CONFIG = """
database: sqlite:///{db}
accounts:
  support:
    email: support@example.test
    ca_file: {ca}
    auth: {{method: password, username: {user}, password: '${{env:MC_RECEIVE_PW}}'}}
    receive: {{protocol: imap, host: 127.0.0.1, port: {port}, tls: tls, timeout: 10s, poll_every: 1h}}
pipelines:
  inbox:
    receive: support
    subscribe: {subscribe}
    steps: [store, log]
runner: {{watchdog_intervals: 3}}
"""

Run = Callable[..., Result]


def mail(n: int) -> bytes:
    return (
        f"From: Bob <bob@example.test>\r\nTo: support@example.test\r\nSubject: runner {n}\r\n"
        f"Message-ID: <runner{n}@example.test>\r\n\r\nBody {n}\r\n"
    ).encode()


@pytest.fixture
def config_file(tmp_path: Path, ca_pem: Path, dovecot: DovecotServer, dovecot_user: MailUser) -> Path:
    path = tmp_path / "mailconduit.yaml"
    path.write_text(
        CONFIG.format(
            db=tmp_path / "mc.db",
            ca=ca_pem,
            user=dovecot_user.name,
            port=dovecot.imaps_port,
            subscribe="true",
        )
    )
    return path


@pytest.fixture
def cli(config_file: Path, dovecot_user: MailUser) -> Run:
    def run(*args: str) -> Result:
        from mailconduit._cli import cli as command

        env = {"MC_RECEIVE_PW": dovecot_user.password}
        return CliRunner().invoke(command, ["--config", str(config_file), *args], env=env)

    assert run("db", "upgrade").exit_code == 0
    return run


def test_status_of_a_pipeline_that_never_ran_is_unhealthy(cli: Run) -> None:
    result = cli("status", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    assert [(p["name"], p["state"], p["account"]) for p in report["pipelines"]] == [
        ("inbox", "never run", "support")
    ]


def test_run_once_runs_every_pipeline_and_status_reports_it(
    cli: Run, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    dovecot.seed(dovecot_user, [mail(n) for n in range(1, 6)])
    result = cli("run", "--once", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["pipelines"]["inbox"] | {"stored": 5, "failed": 0} == data["pipelines"]["inbox"]
    assert data["errors"] == {}
    again = json.loads(cli("run", "--once", "--json").stdout)
    assert again["pipelines"]["inbox"]["stored"] == 0
    status = cli("status", "--json")
    assert status.exit_code == 0, status.output
    pipeline = json.loads(status.stdout)["pipelines"][0]
    assert pipeline | {"state": "running", "runs": 2, "processed": 5, "lag": 0, "healthy": True} == pipeline
    text = cli("status")
    assert "inbox" in text.stdout and "support/INBOX" in text.stdout and "healthy" in text.stdout


def test_run_once_with_an_unknown_pipeline_fails_before_anything_runs(cli: Run) -> None:
    result = cli("run", "--once", "--pipeline", "nope")
    assert result.exit_code != 0
    assert "no pipeline 'nope'" in result.output


def test_the_runner_replicates_with_idle_as_mail_arrives_and_stops_cleanly(
    config_file: Path, dovecot: DovecotServer, dovecot_user: MailUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MC_RECEIVE_PW", dovecot_user.password)
    plugins = load_plugins()
    config = load_config(config_file, plugins)
    store = open_store(config.database)
    stored: list[int] = []
    seen = threading.Condition()

    def on_result(name: str, result: object) -> None:
        with seen:
            stored.append(getattr(result, "stored", 0))
            seen.notify_all()

    runner = Runner(config, store, plugins, on_result=on_result)
    runner.start()
    try:
        with seen:
            assert seen.wait_for(lambda: len(stored) >= 1, timeout=30)
        dovecot.seed(dovecot_user, [mail(n) for n in range(10, 13)])
        with seen:
            assert seen.wait_for(lambda: sum(stored) >= 3, timeout=30), stored
        report = read_status(store, config)
        (pipeline,) = report.pipelines
        assert (pipeline.state, pipeline.mode, pipeline.healthy) == ("running", "idle", True)
        assert pipeline.processed == 3
    finally:
        started = time.monotonic()
        assert runner.stop(timeout=30)
        assert time.monotonic() - started < 30
        store.close()
    assert sum(stored) == 3
    report = read_status(open_store(config.database), config)
    assert report.pipelines[0].state == "stopped"


def test_the_outbox_worker_reports_itself_alive_while_the_runner_runs(
    config_file: Path, dovecot_user: MailUser, monkeypatch: pytest.MonkeyPatch, smtp_server: object
) -> None:
    port = smtp_server.starttls_port
    text = config_file.read_text().replace(
        "    receive: {protocol: imap",
        f"    send: {{protocol: smtp, host: 127.0.0.1, port: {port}, tls: starttls}}\n"
        "    receive: {protocol: imap",
    )
    config_file.write_text(text)
    monkeypatch.setenv("MC_RECEIVE_PW", dovecot_user.password)
    monkeypatch.setattr("mailconduit._runner._jobs.BEAT", 0.2)
    plugins = load_plugins()
    config = load_config(config_file, plugins)
    store = open_store(config.database)
    runner = Runner(config, store, plugins)
    runner.start()
    try:

        def worker_alive() -> bool:
            workers = read_status(store, config).workers
            return bool(workers) and workers[0].state == "running" and workers[0].healthy

        deadline = time.monotonic() + 20
        while not worker_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        (worker,) = read_status(store, config).workers
        assert (worker.state, worker.mode, worker.healthy) == ("running", "worker", True)
        assert worker.last_success_at is not None
    finally:
        assert runner.stop(timeout=30)
        store.close()


def _key_parts(key: int) -> tuple[int, int]:
    unsigned = key + (1 << 64) if key < 0 else key
    return unsigned >> 32, unsigned & 0xFFFFFFFF


def test_a_runner_whose_ownership_connection_drops_takes_the_pipeline_again(
    config_file: Path,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL ends the session holding the pipeline's lock; the job notices at its next run."""
    from sqlalchemy import create_engine, text

    from mailconduit._runner._jobs import ownership_key

    monkeypatch.setenv("MC_RECEIVE_PW", dovecot_user.password)
    config_file.write_text(
        config_file.read_text().replace("subscribe: true", "subscribe: false\n    poll_every: 1s")
    )
    plugins = load_plugins()
    config = load_config(config_file, plugins, db_url=postgres_url)
    store = open_store(config.database)
    results: list[int] = []
    runner = Runner(config, store, plugins, outbox=False, on_result=lambda name, r: results.append(r.stored))
    classid, objid = _key_parts(ownership_key("inbox", "support", "INBOX"))
    admin = create_engine(postgres_url)
    find = text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = :c AND objid = :o"
    )
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while not results and time.monotonic() < deadline:
            time.sleep(0.1)
        with admin.connect() as connection:
            (pid,) = connection.execute(find, {"c": classid, "o": objid}).scalars().all()
            assert connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        dovecot.seed(dovecot_user, [mail(n) for n in range(20, 23)])
        deadline = time.monotonic() + 30
        while sum(results) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sum(results) == 3
        holders: list[int] = []
        deadline = time.monotonic() + 30
        while not holders and time.monotonic() < deadline:
            time.sleep(0.2)
            with admin.connect() as connection:
                holders = list(connection.execute(find, {"c": classid, "o": objid}).scalars())
        assert len(holders) == 1 and holders[0] != pid  # held again, on a new session
        dovecot.seed(dovecot_user, [mail(23)])
        deadline = time.monotonic() + 30
        while sum(results) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sum(results) == 4  # and it replicates again
    finally:
        assert runner.stop(timeout=30)
        store.close()
        admin.dispose()
    assert "lost its ownership" in caplog.text
