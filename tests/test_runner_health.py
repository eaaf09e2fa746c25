"""A server that disappears, and a pipeline that stops completing runs, as the runner reports them.

Issue 9 "Done when": a runner whose server disappears shows it in ``mailconduit status`` and on
the health endpoint within one interval and recovers by itself when the server returns. The
runner runs in this process with its health endpoint; the pipeline's IMAP connection goes
through a :class:`LiveFaultProxy` that blackholes the live IDLE connection and every new one (the
server vanished from the network), or resets them all (the server refuses connections).

The watchdog (issue 9 point 4): a pipeline whose connection hangs longer than the watchdog's
limit (a blackhole with a read timeout longer than ``watchdog_intervals`` intervals) is marked
``stalled`` in the status, logged as an error and reported to ``on_run_error`` (a plugin here
records it); when runs complete again it is healthy again and the mail of the stall is stored.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mailconduit import RunInfo, hookimpl, load_config, load_plugins
from mailconduit._runner import PipelineStalled, Runner
from mailconduit._store import Store, open_store
from mailconduit._testing._procs import wait_until
from mailconduit.testing import DovecotServer, Fault, free_port
from tests._replication_helpers import check_converged
from tests._runner_helpers import AccountSpec, Appender, LiveFaultProxy, message, passwords, runner_yaml

pytestmark = pytest.mark.servers

INTERVAL = 10.0  # the IDLE refresh of the outage tests


def get(url: str) -> tuple[int, str]:
    """GET ``url``: status and body (error statuses too)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class Service:
    """A runner in this process, its config file, store, proxy and health endpoint."""

    runner: Runner
    store: Store
    config: Any
    config_file: Path
    env: dict[str, str]
    proxy: LiveFaultProxy
    port: int
    appender: Appender
    sent: list[bytes] = field(default_factory=list)

    def cli(self, *args: str) -> Result:
        """``mailconduit --config FILE ARGS``."""
        from mailconduit._cli import cli

        return CliRunner().invoke(cli, ["--config", str(self.config_file), *args], env=self.env)

    def status(self) -> tuple[int, dict[str, Any]]:
        """``mailconduit status --json``: exit code and report."""
        result = self.cli("status", "--json")
        return result.exit_code, json.loads(result.stdout)

    def health(self) -> tuple[int, dict[str, Any]]:
        """``/health``: HTTP status and report."""
        code, body = get(f"http://127.0.0.1:{self.port}/health")
        return code, json.loads(body)

    def metrics(self) -> dict[str, float]:
        """``/metrics`` as ``{sample name with labels: value}``."""
        code, body = get(f"http://127.0.0.1:{self.port}/metrics")
        assert code == 200
        samples = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    def deliver(self, n: int) -> None:
        raw = message("health", n)
        self.sent.append(raw)
        self.appender.append(f"health {n}", raw)


def start_service(
    dovecot: DovecotServer,
    ca_pem: Path,
    tmp_path: Path,
    *,
    receive: dict[str, Any],
    runner: dict[str, Any],
    recorder: object | None = None,
) -> Service:
    user = dovecot.add_user()
    proxy = LiveFaultProxy(dovecot.imap_port).start()
    spec = AccountSpec("acct", user, proxy.port, receive={"poll_every": "1h", **receive})
    port = free_port()
    text = runner_yaml(
        tmp_path / "mc.db",
        ca_pem,
        [spec],
        {"inbox": {"receive": "acct", "subscribe": True}},
        runner={**runner, "health_port": port},
    )
    config_file = tmp_path / "mailconduit.yaml"
    config_file.write_text(text)
    env = passwords([spec])
    extra = [("recorder", recorder)] if recorder is not None else []
    plugins = load_plugins(extra=extra)
    config = load_config(config_file, plugins, environ=env)
    store = open_store(config.database)
    service = Runner(config, store, plugins, outbox=False, watchdog_check_every=0.5)
    return Service(service, store, config, config_file, env, proxy, port, Appender(dovecot.imap_port, user))


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.runner.stop(timeout=30)
        service.appender.close()
        service.proxy.stop()
        service.store.close()


def healthy_everywhere(service: Service) -> bool:
    code, report = service.status()
    http, health = service.health()
    return code == 0 and report["healthy"] and http == 200 and health["healthy"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("gone", ["blackhole", "refused"])
def test_a_server_that_disappears_shows_within_one_interval_and_the_runner_recovers_by_itself(
    gone: str, dovecot: DovecotServer, ca_pem: Path, tmp_path: Path, services: list[Service]
) -> None:
    service = start_service(
        dovecot,
        ca_pem,
        tmp_path,
        receive={"idle_refresh": f"{INTERVAL:g}s", "timeout": "2s"},
        runner={"watchdog_intervals": 3},
    )
    services.append(service)
    service.runner.start()
    service.deliver(1)
    wait_until(lambda: healthy_everywhere(service), "a healthy runner", timeout=30)
    assert service.metrics()["mailconduit_healthy"] == 1

    # the server vanishes: the live IDLE connection and every new one blackholed, or reset
    service.proxy.set_fault(Fault.blackhole(0) if gone == "blackhole" else Fault.cut(0))
    gone_at = time.monotonic()
    assert service.proxy.strike("blackhole" if gone == "blackhole" else "rst")
    seen: dict[str, float] = {}

    def reported() -> bool:
        code, report = service.status()
        if code == 1 and report["pipelines"][0]["state"] == "error":
            seen.setdefault("status", time.monotonic() - gone_at)
        http, _ = service.health()
        if http == 503:
            seen.setdefault("health", time.monotonic() - gone_at)
        return len(seen) == 2

    wait_until(reported, "the outage in status and on /health", timeout=INTERVAL * 3, interval=0.2)
    service.deliver(2)
    service.deliver(3)
    code, report = service.status()
    http, health = service.health()
    metrics = service.metrics()
    (pipeline,) = report["pipelines"]
    assert code == 1 and report["healthy"] is False
    assert pipeline["state"] == "error" and pipeline["healthy"] is False
    expected = "no data within 2 s" if gone == "blackhole" else "connection"
    assert expected in pipeline["last_error"], pipeline["last_error"]
    assert http == 503 and health["healthy"] is False
    assert health["pipelines"][0]["last_error"] == pipeline["last_error"]
    assert metrics["mailconduit_healthy"] == 0
    assert metrics['mailconduit_pipeline_healthy{pipeline="inbox",account="acct"}'] == 0
    text = service.cli("status")
    assert text.exit_code == 1 and "NOT healthy" in text.stdout and "last error" in text.stdout

    # the server returns: the runner reconnects on its own, stores what arrived meanwhile
    time.sleep(3)  # a few reconnect attempts fail first
    service.proxy.heal()
    healed_at = time.monotonic()
    wait_until(lambda: healthy_everywhere(service), "the runner healthy again", timeout=INTERVAL * 3)
    recovered = time.monotonic() - healed_at
    assert service.metrics()["mailconduit_healthy"] == 1
    check_converged(service.store, service.sent)
    (pipeline,) = service.status()[1]["pipelines"]
    assert (pipeline["state"], pipeline["mode"], pipeline["lag"]) == ("running", "idle", 0)
    print(
        f"\nserver {gone}: in status after {seen['status']:.1f} s, on /health after {seen['health']:.1f} s "
        f"(interval {INTERVAL:g} s); healthy again {recovered:.1f} s after it returned"
    )
    assert seen["status"] <= INTERVAL and seen["health"] <= INTERVAL


class StallRecorder:
    """A plugin recording what ``on_run_error`` gets."""

    def __init__(self) -> None:
        self.errors: list[tuple[BaseException, RunInfo]] = []
        self.lock = threading.Lock()

    @hookimpl
    def on_run_error(self, error: BaseException, run: RunInfo) -> None:
        with self.lock:
            self.errors.append((error, run))

    def stalls(self) -> list[tuple[BaseException, RunInfo]]:
        with self.lock:
            return [(e, r) for e, r in self.errors if isinstance(e, PipelineStalled)]


@pytest.mark.timeout(120)
def test_the_watchdog_reports_a_pipeline_that_completes_no_run_and_sees_it_recover(
    dovecot: DovecotServer,
    ca_pem: Path,
    tmp_path: Path,
    services: list[Service],
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = StallRecorder()
    service = start_service(
        dovecot,
        ca_pem,
        tmp_path,
        # a 2 s interval but a 10 s read timeout: a blackholed connection hangs > 2 intervals
        receive={"idle_refresh": "2s", "timeout": "10s"},
        runner={"watchdog_intervals": 2},
        recorder=recorder,
    )
    services.append(service)
    caplog.set_level(logging.INFO, logger="mailconduit")
    service.runner.start()
    service.deliver(1)
    wait_until(lambda: healthy_everywhere(service), "a healthy runner", timeout=30)

    assert service.proxy.strike("blackhole")  # the next connection is clean again
    struck = time.monotonic()
    wait_until(recorder.stalls, "on_run_error with PipelineStalled", timeout=30)
    stalled_after = time.monotonic() - struck
    service.deliver(2)
    code, report = service.status()
    (pipeline,) = report["pipelines"]
    assert code == 1 and pipeline["state"] == "stalled" and pipeline["healthy"] is False
    assert "has completed no run" in pipeline["last_error"]
    http, health = service.health()
    assert http == 503 and health["pipelines"][0]["state"] == "stalled"
    ((error, run),) = recorder.stalls()
    assert "'inbox' has completed no run" in str(error)
    assert (run.account, run.folder, run.protocol, run.mode) == ("acct", "INBOX", "imap", "idle")
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and "watchdog" in r.getMessage()]
    assert logged and "'inbox' has completed no run" in logged[0].getMessage()

    # the hung read times out, the watch reconnects, runs complete again
    wait_until(lambda: healthy_everywhere(service), "the pipeline recovered", timeout=45)
    recovered_after = time.monotonic() - struck
    check_converged(service.store, service.sent)
    assert len(recorder.stalls()) == 1, "one stall, reported once"
    wait_until(
        lambda: any("'inbox' completes runs again" in r.getMessage() for r in caplog.records),
        "the watchdog logging the recovery",
        timeout=5,
    )
    print(
        f"\nwatchdog: stall reported {stalled_after:.1f} s after the connection hung "
        f"(limit 2 x 2 s); healthy again after {recovered_after:.1f} s (read timeout 10 s)"
    )
