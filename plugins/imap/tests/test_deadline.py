"""B3: every IMAP command has a deadline (``command_deadline`` + bytes received / ``min_transfer_rate``).

Against FaultProxy's drip in front of the session Dovecot, with a per-read timeout (10 s) far above
the deadline (1 s), so what fires is the deadline, told apart by its error:

* a server dripping its reply to the greeting, SELECT, UID SEARCH, a UID FETCH (cleartext and TLS)
  or the end of IDLE fails that command with a temporary ``TransportTimeout`` naming the command and
  the deadline, and the connection is dropped without another byte sent (no LOGOUT into the drip);
* a 5 MB message arriving slowly but steadily (at most 1.6 MB/s, several times the 1 s base) is
  fetched whole when the rate keeps within the allowance, and cut off when it does not;
* a replication run that failed on a drip mid-run keeps what it committed, and the next run
  stores everything else: every message exactly once, the INBOX empty after delete.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from mailconduit import (
    Account,
    Credentials,
    TlsMode,
    TransportError,
    TransportTimeout,
    load_config,
    load_plugins,
    open_store,
    replicate,
)
from mailconduit.testing import DovecotServer, Fault, FaultProxy, MailUser, stored_digests
from mailconduit_imap import ImapTransport

from .conftest import MakeAccount, credentials_of

pytestmark = pytest.mark.servers

DEADLINE = timedelta(seconds=1)
"""The test accounts' ``command_deadline`` (their per-read ``timeout`` is 10 s)."""


def message(n: int, size: int) -> bytes:
    head = f"From: a@example.test\r\nSubject: deadline {n}\r\nMessage-ID: <deadline-{n}@example.test>\r\n\r\n"
    line = (f"{n} " + "z" * 76)[:76].encode() + b"\r\n"
    return head.encode() + line * max(1, size // len(line))


def port_of(dovecot: DovecotServer, tls: TlsMode) -> int:
    return dovecot.imaps_port if tls is TlsMode.TLS else dovecot.imap_port


def take_recent(account: Account, credentials: Credentials) -> None:
    """A session that takes the messages' \\Recent flag: the SELECT replies of later ones are all alike."""
    mailbox = ImapTransport().open(account, credentials)
    mailbox.state("INBOX")
    mailbox.close()


def phase_offsets(proxy: FaultProxy, account: Account, credentials: Credentials) -> dict[str, int]:
    """Bytes the server sends before each reply of a session ``open``, ``list_new``, ``fetch``.

    Measured cleanly through ``proxy`` in fresh sessions, after a first one that takes the messages'
    \\Recent flag, so each SELECT reply measured is the one the session under test gets.
    """
    take_recent(account, credentials)

    def downloaded(*steps: str) -> list[int]:
        mailbox = ImapTransport().open(account, credentials)
        counts = [proxy.settled()]
        refs: Any = None
        for step in steps:
            if step == "select":
                mailbox.state("INBOX")
            elif step == "list":
                refs = mailbox.list_new("INBOX", (), True, None)
            else:
                for _ in mailbox.fetch("INBOX", refs):
                    pass
            counts.append(proxy.settled())
        mailbox.close()
        return counts

    opened, selected = downloaded("select")
    _, listed, _ = downloaded("list", "fetch")
    return {"greeting": 0, "SELECT": opened, "UID SEARCH": selected, "UID FETCH": listed}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("phase", "tls"),
    [
        ("greeting", TlsMode.NONE),
        ("SELECT", TlsMode.NONE),
        ("UID SEARCH", TlsMode.NONE),
        ("UID FETCH", TlsMode.NONE),
        ("UID FETCH", TlsMode.TLS),
    ],
)
def test_a_dripping_server_fails_the_command_at_its_deadline(
    phase: str,
    tls: TlsMode,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    user_credentials: Credentials,
    fault_proxy: Any,
    make_account: MakeAccount,
) -> None:
    messages = [message(n, 20_000) for n in range(10)]
    dovecot.seed(dovecot_user, messages)
    proxy = fault_proxy(port_of(dovecot, tls))
    # 1 MiB/s: the 30 KB that arrive before the drip earn the FETCH only 0.03 s beyond its base
    account = make_account(proxy.port, tls, timeout=10, command_deadline=DEADLINE, min_transfer_rate=1 << 20)
    offsets = phase_offsets(proxy, account, user_credentials)
    # replies of a few dozen bytes take seconds at 20 B/s; the FETCH drips from 30 KB in, at 100 B/s.
    # 30 bytes in: Dovecot's replies end in timings ("(0.001 + 0.000 secs)"), a few bytes longer or not
    every = 0.01 if phase == "UID FETCH" else 0.05
    start = offsets[phase] + {"greeting": 0, "UID FETCH": 30_000}.get(phase, 30)
    proxy.set_fault(Fault.drip(every, after=start))

    got: list[bytes] = []
    mailbox = None
    with pytest.raises(TransportTimeout) as caught:
        mailbox = ImapTransport().open(account, user_credentials)
        refs = mailbox.list_new("INBOX", (), True, None)
        got.extend(raw.data for raw in mailbox.fetch("INBOX", refs))
    conn = proxy.connections[-1]
    sent_up = conn.sent["up"]
    if mailbox is not None:
        mailbox.close()
    error = caught.value
    text = str(error)
    print(f"B3 {phase}/{tls.value}: {text}")
    assert error.temporary is True and "'support'" in text
    assert f"{phase} did not complete within its deadline of 1.0 s (1 s receive.command_deadline + " in text
    assert "no data within" not in text
    assert conn.sent["down"] > start, "the drip was reached"
    assert conn.sent["up"] == sent_up, "after a deadline the connection is dropped, nothing more is sent"
    assert got == messages[: len(got)]
    if phase == "UID FETCH":
        assert len(got) >= 1, "what arrived before the drip was handed over"


@pytest.mark.timeout(60)
def test_a_server_dripping_the_end_of_idle_fails_idle_at_its_deadline(
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    user_credentials: Credentials,
    fault_proxy: Any,
    make_account: MakeAccount,
) -> None:
    dovecot.seed(dovecot_user, [message(1, 500)])
    proxy = fault_proxy(dovecot.imap_port)
    account = make_account(proxy.port, TlsMode.NONE, timeout=10, command_deadline=DEADLINE)
    take_recent(account, user_credentials)  # so that the SELECT replies below match
    mailbox = ImapTransport().open(account, user_credentials)
    mailbox.state("INBOX")
    before_idle = proxy.settled()
    assert mailbox.wait("INBOX", 0.2) is False
    mailbox.close()
    # the same session again, dripping (20 B/s) from the last bytes of the SELECT reply on: "+ idling"
    # (10 bytes, 0.5 s) comes within the deadline, the ~55 bytes of the reply to DONE cannot
    proxy.set_fault(Fault.drip(0.05, after=before_idle - 5))
    mailbox = ImapTransport().open(account, user_credentials)
    mailbox.state("INBOX")
    with pytest.raises(TransportTimeout) as caught:
        mailbox.wait("INBOX", 0.2)
    mailbox.close()
    text = str(caught.value)
    print(f"B3 IDLE: {text}")
    assert caught.value.temporary is True
    assert "IDLE (DONE) did not complete within its deadline of 1.0 s" in text, text


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("rate", "cut_off"), [("512KB", False), ("4MB", True)])
def test_a_slow_but_steady_large_message_earns_its_time(
    rate: str,
    cut_off: bool,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    user_credentials: Credentials,
    fault_proxy: Any,
    make_account: MakeAccount,
) -> None:
    """5 MB at <= 32 KB / 20 ms (<= 1.6 MB/s, so >= 3.2 s of waiting) with a 1 s base deadline.

    At ``min_transfer_rate`` 512 KB/s the FETCH may take 1 s + 5.2 MB / 512 KB/s ~ 11 s: fetched
    whole. At 4 MB/s it may take ~2.3 s, less than the stream can possibly need: cut off.
    """
    big = message(0, 5 * 1024 * 1024)
    dovecot.seed(dovecot_user, [big])
    proxy = fault_proxy(dovecot.imap_port)
    proxy.set_fault(Fault.drip(0.02, chunk=32 * 1024))
    account = make_account(
        proxy.port,
        TlsMode.NONE,
        timeout=10,
        command_deadline=DEADLINE,
        min_transfer_rate=512 * 1024 if rate == "512KB" else 4 * 1024 * 1024,
    )
    mailbox = ImapTransport().open(account, user_credentials)
    try:
        refs = mailbox.list_new("INBOX", (), True, None)
        if cut_off:
            with pytest.raises(TransportTimeout, match="UID FETCH did not complete within its deadline"):
                list(mailbox.fetch("INBOX", refs))
        else:
            (raw,) = mailbox.fetch("INBOX", refs)
            assert raw.data == big
    finally:
        mailbox.close()


# ------------------------------------------------------------------------------- replication
@pytest.mark.timeout(90)
def test_a_run_failed_on_a_drip_loses_nothing_and_the_next_run_stores_the_rest_once(
    dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path, tmp_path: Path, fault_proxy: Any
) -> None:
    messages = [message(n, 1_500 + 10 * (n % 50)) for n in range(600)]  # batches of 500 and 100
    dovecot.seed(dovecot_user, messages)
    proxy = fault_proxy(dovecot.imap_port)
    plugins = load_plugins()
    config = load_config(
        "accounts:\n"
        "  acct:\n"
        "    email: user@example.test\n"
        f"    ca_file: {ca_pem}\n"
        f"    auth: {{method: password, username: {dovecot_user.name}, password: '${{env:PW}}'}}\n"
        f"    receive: {{protocol: imap, host: 127.0.0.1, port: {proxy.port}, tls: none, timeout: 10s,\n"
        "               command_deadline: 1s, min_transfer_rate: 1MB, replicate_everything: true,\n"
        "               after_replication: delete}\n",
        plugins,
        environ={"PW": credentials_of(dovecot_user).secret.reveal()},
    )
    store = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    try:
        # drip (100 B/s) from some 20-50 messages into the second batch's UID FETCH
        proxy.set_fault(Fault.drip(0.01, after=sum(len(m) for m in messages[:550])))
        with pytest.raises(TransportError) as caught:
            replicate("acct", store=store, plugins=plugins, config=config)
        print(f"B3 replication: {caught.value}")
        assert isinstance(caught.value, TransportTimeout) and caught.value.temporary
        assert "deadline" in str(caught.value) and "'acct'" in str(caught.value)
        first = stored_digests(store, "acct")
        assert sum(first.values()) == 500, "the batch committed before the drip is kept"
        assert max(first.values()) == 1 and dovecot.message_count(dovecot_user) == 100

        proxy.heal()
        result = replicate("acct", store=store, plugins=plugins, config=config)
        assert (result.stored, result.remaining) == (100, 0)
        assert stored_digests(store, "acct") == Counter(sha256(m).hexdigest() for m in messages), (
            "every message stored exactly once"
        )
        assert dovecot.message_count(dovecot_user) == 0
    finally:
        store.close()
