"""RELIABILITY.md B1-B4 end to end: replication into the store through faults in front of Dovecot.

* B1 cut sweep: ``fault_proxy`` resets every connection of a replication run (with delete) after
  ``N = k * P`` bytes from the server (``P`` a prime chosen so the points cover the session);
  reruns without the fault must converge to the clean result (0 lost, 0 dup, INBOX empty) within
  3 retries, and the cut run fails with a mailconduit ``TransportError``, never a raw socket error.
  Default: ~100 IMAP points and ~30 POP3 points; ``-m long``: >= 600 IMAP points (RST and FIN,
  cleartext and STARTTLS) and every POP3 point of a ~200-point sweep.
* B2: a blackhole mid-FETCH is detected by the account's 2 s read timeout (``TransportTimeout``);
  the rerun after heal completes.
* B3: a drip (1 byte / 10 ms) from mid-FETCH on: the run completes or fails with a timeout, never
  hangs (pytest-timeout guard), and this process's RSS stays flat.
* B4: a second, private Dovecot killed with SIGKILL (master and every child) mid-run and restarted
  on the same ports and mail: the next run resumes, 0 lost, 0 dup.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mailconduit import MailconduitError, TransportError, TransportTimeout
from mailconduit._replicate import replicate
from mailconduit._store import Store
from mailconduit._testing._procs import wait_until
from mailconduit.testing import DovecotServer, Fault, FaultProxy, MailUser
from tests._replication_helpers import (
    account_yaml,
    check_converged,
    folder_count,
    kill_dovecot,
    load_account,
    plugins,
    restart_dovecot,
    sqlite_store,
    stored_rows,
    synthetic,
)

pytestmark = pytest.mark.servers

MAX_RETRIES = 3


def prime_at_least(n: int) -> int:
    """The smallest prime >= ``n``."""
    n = max(n, 2)
    while any(n % d == 0 for d in range(2, int(n**0.5) + 1)):
        n += 1
    return n


@pytest.fixture(scope="module")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated SQLite store; copying it is much cheaper than migrating per cut point."""
    path = tmp_path_factory.mktemp("store-template") / "mail.db"
    sqlite_store(path).close()
    return path


def fresh_store(template: Path, where: Path) -> Store:
    where.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, where)
    return sqlite_store(where)


@dataclass
class CutSweep:
    """Results of one sweep, for the assertions and the report."""

    points: int = 0
    cut_failed: int = 0
    retries: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


@dataclass
class Setup:
    dovecot: DovecotServer
    ca_pem: Path
    tmp_path: Path
    template: Path
    proxy: FaultProxy
    protocol: str
    tls: str
    messages: list[bytes]

    def account(self, user: MailUser, **receive: Any) -> Any:
        text = account_yaml(
            protocol=self.protocol,
            port=self.proxy.port,
            tls=self.tls,
            username=user.name,
            ca_file=self.ca_pem,
            timeout="5s",
            after_replication="delete",
            replicate_everything=True,
            messages_per_run=10,
            **receive,
        )
        return load_account(text, user.password)

    def session_length(self) -> int:
        """Bytes the server sends in a clean run (every connection of it)."""
        user = self.dovecot.add_user()
        self.dovecot.seed(user, self.messages)
        before = len(self.proxy.connections)
        store = fresh_store(self.template, self.tmp_path / "clean" / "mail.db")
        try:
            replicate(self.account(user), store=store, plugins=plugins())
            check_converged(store, self.messages)
        finally:
            store.close()
        time.sleep(0.05)
        return sum(c.sent["down"] for c in self.proxy.connections[before:])

    def cut_at(self, point: int, sweep: CutSweep, *, rst: bool = True) -> None:
        user = self.dovecot.add_user()
        self.dovecot.seed(user, self.messages)
        account = self.account(user)
        store = fresh_store(self.template, self.tmp_path / f"cut{point}{rst}" / "mail.db")
        try:
            self.proxy.set_fault(Fault.cut(point, rst=rst))
            try:
                replicate(account, store=store, plugins=plugins())
            except MailconduitError as exc:
                assert isinstance(exc, TransportError), f"cut@{point}: {type(exc).__name__}: {exc}"
                sweep.cut_failed += 1
                sweep.errors[type(exc).__name__] += 1
            finally:
                self.proxy.heal()
            for retry in range(MAX_RETRIES + 1):
                result = None
                try:
                    result = replicate(account, store=store, plugins=plugins())
                except TransportError as exc:
                    sweep.errors[f"retry {type(exc).__name__}"] += 1
                if result is not None and result.remaining == 0 and not self.left_on_server(user):
                    sweep.retries[retry + 1] += 1
                    break
            else:
                raise AssertionError(f"cut@{point}: not converged after {MAX_RETRIES} retries")
            check_converged(store, self.messages)
            assert len(stored_rows(store)) == len(self.messages)
        finally:
            store.close()
            self.dovecot.remove_user_mail(user)
        sweep.points += 1

    def left_on_server(self, user: MailUser) -> int:
        return folder_count(self.dovecot.imap_port, user.name, user.password)


def run_sweep(setup: Setup, points: int, *, fin_every: int = 0) -> CutSweep:
    started = time.monotonic()
    length = setup.session_length()
    step = prime_at_least(length // points)
    sweep = CutSweep()
    for k, point in enumerate(range(step, length, step)):
        setup.cut_at(point, sweep)
        if fin_every and k % fin_every == 0:
            setup.cut_at(point, sweep, rst=False)
    sweep.seconds = time.monotonic() - started
    print(f"B1 {setup.protocol}/{setup.tls}: session {length} B, P={step}: {sweep}")
    assert sweep.points >= points * 0.9
    assert sweep.cut_failed >= sweep.points * 0.8, "most cuts must hit the run itself"
    assert max(sweep.retries) <= MAX_RETRIES
    return sweep


def imap_messages() -> list[bytes]:
    return [synthetic(n, 1_500 + 211 * n, tag="cut") for n in range(30)]


@pytest.mark.timeout(600)
def test_b1_imap_cut_sweep_converges(
    dovecot: DovecotServer, ca_pem: Path, tmp_path: Path, store_template: Path, fault_proxy: Any
) -> None:
    setup = Setup(
        dovecot,
        ca_pem,
        tmp_path,
        store_template,
        fault_proxy(dovecot.imap_port),
        "imap",
        "none",
        imap_messages(),
    )
    run_sweep(setup, 100)


@pytest.mark.timeout(600)
def test_b1_pop3_cut_sweep_converges(
    dovecot: DovecotServer, ca_pem: Path, tmp_path: Path, store_template: Path, fault_proxy: Any
) -> None:
    messages = [synthetic(n, 2_000 + 97 * n, tag="popcut") for n in range(20)]
    setup = Setup(
        dovecot, ca_pem, tmp_path, store_template, fault_proxy(dovecot.pop3_port), "pop3", "none", messages
    )
    run_sweep(setup, 30)


@pytest.mark.long
@pytest.mark.timeout(7200)
@pytest.mark.parametrize(("protocol", "tls"), [("imap", "none"), ("imap", "starttls"), ("pop3", "starttls")])
def test_b1_full_cut_sweep(
    protocol: str,
    tls: str,
    dovecot: DovecotServer,
    ca_pem: Path,
    tmp_path: Path,
    store_template: Path,
    fault_proxy: Any,
) -> None:
    port = dovecot.imap_port if protocol == "imap" else dovecot.pop3_port
    messages = [synthetic(n, 2_000 + 997 * n, tag="longcut") for n in range(60)]
    setup = Setup(dovecot, ca_pem, tmp_path, store_template, fault_proxy(port), protocol, tls, messages)
    run_sweep(setup, 600 if protocol == "imap" else 200, fin_every=5)


# ------------------------------------------------------------------------------------------- B2, B3
def vm_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tls", ["none", "tls"])
def test_b2_blackhole_mid_fetch_is_the_read_timeout_and_heals(
    tls: str, dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path, tmp_path: Path, fault_proxy: Any
) -> None:
    messages = [synthetic(n, 2_000, tag="bh") for n in range(800)]  # two batches of <= 500
    dovecot.seed(dovecot_user, messages)
    proxy = fault_proxy(dovecot.imaps_port if tls == "tls" else dovecot.imap_port)
    text = account_yaml(
        protocol="imap",
        port=proxy.port,
        tls=tls,
        username=dovecot_user.name,
        ca_file=ca_pem,
        timeout="2s",
        replicate_everything=True,
        messages_per_run=10,
        after_replication="delete",
    )
    account = load_account(text, dovecot_user.password)
    store = sqlite_store(tmp_path / "mail.db")
    try:
        proxy.set_fault(Fault.blackhole(1_400_000))  # the first batch is ~1.1 MB: this is mid second FETCH
        with pytest.raises(TransportTimeout) as caught:
            replicate(account, store=store, plugins=plugins())
        assert caught.value.temporary and "'acct'" in str(caught.value)
        assert proxy.connections[0].triggered.is_set()
        partial = len(stored_rows(store))
        assert partial == 500, "the batch committed before the blackhole is kept"
        proxy.heal()
        result = replicate(account, store=store, plugins=plugins())
        assert (result.stored, result.remaining) == (300, 0)
        check_converged(store, messages)
        assert folder_count(dovecot.imap_port, dovecot_user.name, dovecot_user.password) == 0
    finally:
        store.close()


@pytest.mark.timeout(120)
def test_b3_drip_completes_or_times_out_never_hangs_rss_flat(
    dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path, tmp_path: Path, fault_proxy: Any
) -> None:
    messages = [synthetic(n, 3_000, tag="drip") for n in range(8)]
    dovecot.seed(dovecot_user, messages)
    proxy = fault_proxy(dovecot.imap_port)
    text = account_yaml(
        protocol="imap", port=proxy.port, tls="none", username=dovecot_user.name, ca_file=ca_pem, timeout="2s"
    )
    account = load_account(text, dovecot_user.password)
    store = sqlite_store(tmp_path / "mail.db")
    try:
        replicate(account, store=store, plugins=plugins(), dry_run=True)
        session = proxy.connections[0].sent["down"]
        total = session + sum(len(m) for m in messages)
        proxy.set_fault(Fault.drip(0.01, after=total - 700))  # the last ~0.7 KB of the FETCH, and LOGOUT
        rss_before = vm_rss()
        started = time.monotonic()
        try:
            result = replicate(account, store=store, plugins=plugins())
            outcome = f"completed, stored {result.stored}"
            check_converged(store, messages)
        except TransportTimeout as exc:
            outcome = f"timed out: {exc}"
        took = time.monotonic() - started
        growth = vm_rss() - rss_before
        print(f"B3 drip: {outcome} after {took:.1f} s, RSS growth {growth / 1e6:.1f} MB")
        assert proxy.connections[-1].sent["down"] > total - 700, "the drip was reached"
        assert growth < 5_000_000, f"RSS grew {growth} bytes under the drip"
    finally:
        store.close()


# ------------------------------------------------------------------------------------------- B4
@pytest.fixture
def private_dovecot(test_ca: Any) -> Iterator[DovecotServer]:
    """A second Dovecot of this test alone (it gets killed)."""
    server = DovecotServer(test_ca).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(180)
def test_b4_dovecot_killed_mid_run_then_restarted_resumes_with_nothing_lost(
    private_dovecot: DovecotServer, ca_pem: Path, tmp_path: Path
) -> None:
    server = private_dovecot
    user = server.add_user()
    messages = [synthetic(n, 10_000 + 13 * n, tag="b4") for n in range(4_000)]
    server.seed(user, messages)
    text = account_yaml(
        protocol="imap",
        port=server.imap_port,
        tls="none",
        username=user.name,
        ca_file=ca_pem,
        timeout="5s",
        replicate_everything=True,
        messages_per_run=100,
        after_replication="delete",
    )
    account = load_account(text, user.password)
    store = sqlite_store(tmp_path / "mail.db")
    failure: list[BaseException] = []
    progress: list[int] = []

    def run() -> None:
        try:
            replicate(
                account, store=store, plugins=plugins(), progress=lambda done, _t: progress.append(done)
            )
        except BaseException as exc:
            failure.append(exc)

    try:
        worker = threading.Thread(target=run)
        worker.start()
        wait_until(lambda: len(progress) >= 2, "two batches replicated", timeout=60)
        killed = kill_dovecot(server)
        worker.join(60)
        assert not worker.is_alive(), "the run must notice the dead server"
        assert failure and isinstance(failure[0], TransportError), failure
        assert failure[0].temporary
        partial = len(stored_rows(store))
        assert 1_000 <= partial < 4_000
        restart_dovecot(server, user)
        result = replicate(account, store=store, plugins=plugins())
        assert result.remaining == 0 and result.stored == 4_000 - partial
        check_converged(store, messages)
        assert folder_count(server.imap_port, user.name, user.password) == 0
        print(
            f"B4: killed {killed} Dovecot processes after {partial} stored; resumed, stored {result.stored}"
        )
    finally:
        store.close()
