"""B3: every POP3 command has a deadline (``command_deadline`` + bytes received / ``min_transfer_rate``).

Against FaultProxy's drip in front of the session Dovecot, with a per-read timeout (10 s) far above
the deadline (1 s), so what fires is the deadline, told apart by its error:

* a server dripping the greeting, the UIDL listing, one pipelined RETR (cleartext and POP3S) or the
  replies to DELE fails that command with a temporary ``TransportTimeout`` naming it (``RETR 2``)
  and the deadline; the connection is dropped without another byte (no QUIT), so a DELE in flight
  deletes nothing;
* a 5 MB message arriving slowly but steadily (at most 1.6 MB/s, several times the 1 s base) is
  retrieved whole when the rate keeps within the allowance, and cut off when it does not;
* a replication run that failed on a drip in its second batch keeps the first (stored and deleted),
  and the next run stores the rest: every message exactly once, the maildrop empty.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

from mailconduit import (
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
from mailconduit_pop3 import Pop3Transport

from .conftest import MakeAccount, port_for

pytestmark = pytest.mark.servers

DEADLINE = timedelta(seconds=1)
"""The test accounts' ``command_deadline`` (their per-read ``timeout`` is 10 s)."""


def message(n: int, size: int) -> bytes:
    head = f"From: a@example.test\r\nSubject: deadline {n}\r\nMessage-ID: <pop3-b3-{n}@example.test>\r\n\r\n"
    line = (f"{n} " + "z" * 76)[:76].encode() + b"\r\n"
    return head.encode() + line * max(1, size // len(line))


def steps(mailbox: Any, phase: str, proxy: FaultProxy | None = None) -> dict[str, int]:
    """List and fetch everything (and delete it, for ``phase == "DELE 1"``); the offsets of the replies."""
    offsets = {"greeting": 0}
    if proxy is not None:
        offsets["UIDL"] = proxy.settled()
    refs = mailbox.list_new("INBOX", (), True, None)  # STAT, UIDL, LIST
    if proxy is not None:
        offsets["RETR 2"] = proxy.settled()
    for _ in mailbox.fetch("INBOX", refs):
        pass
    if proxy is not None:
        offsets["DELE 1"] = proxy.settled()
    if phase == "DELE 1":
        mailbox.delete("INBOX", refs)
    return offsets


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("phase", "tls"),
    [
        ("greeting", TlsMode.NONE),
        ("UIDL", TlsMode.NONE),
        ("RETR 2", TlsMode.NONE),
        ("RETR 2", TlsMode.TLS),
        ("DELE 1", TlsMode.NONE),
    ],
)
def test_a_dripping_server_fails_the_command_at_its_deadline(
    phase: str,
    tls: TlsMode,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    pop3_credentials: Credentials,
    fault_proxy: Any,
    make_account: MakeAccount,
) -> None:
    messages = [message(n, 20_000) for n in range(10)]
    dovecot.seed(dovecot_user, messages)
    proxy = fault_proxy(port_for(dovecot, tls))
    # 1 MiB/s: the 30 KB that arrive before a RETR drip earn it only 0.03 s beyond its base
    account = make_account(proxy.port, tls, timeout=10, command_deadline=DEADLINE, min_transfer_rate=1 << 20)
    clean = Pop3Transport().open(account, pop3_credentials)
    offsets = steps(clean, "", proxy)
    clean.close()
    # short replies take seconds at 20 B/s (the drip starts 30 bytes in: past STAT, into UIDL; into
    # the first DELE reply); the RETR drip starts 30 KB in (in message 2 of 20 KB), at 100 B/s
    every = 0.01 if phase.startswith("RETR") else 0.05
    start = offsets[phase] + {"greeting": 0, "RETR 2": 30_000, "DELE 1": 5}.get(phase, 30)
    proxy.set_fault(Fault.drip(every, after=start))

    mailbox = None
    with pytest.raises(TransportTimeout) as caught:
        mailbox = Pop3Transport().open(account, pop3_credentials)
        steps(mailbox, phase)
    conn = proxy.connections[-1]
    sent_up = proxy.settled("up")
    if mailbox is not None:
        mailbox.close()
    error = caught.value
    text = str(error)
    print(f"B3 {phase}/{tls.value}: {text}")
    assert error.temporary is True and "'inbox'" in text
    assert f"{phase} did not complete within its deadline of 1.0 s (1 s receive.command_deadline + " in text
    assert "no answer within" not in text
    assert conn.sent["down"] > start, "the drip was reached"
    assert proxy.settled("up") == sent_up, "after a deadline the connection is dropped, nothing more is sent"
    assert dovecot.message_count(dovecot_user) == len(messages), "no QUIT, so no DELE took effect"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("rate", "cut_off"), [("512KB", False), ("4MB", True)])
def test_a_slow_but_steady_large_message_earns_its_time(
    rate: str,
    cut_off: bool,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    pop3_credentials: Credentials,
    fault_proxy: Any,
    make_account: MakeAccount,
) -> None:
    """5 MB at <= 32 KB / 20 ms (<= 1.6 MB/s, so >= 3.2 s of waiting) with a 1 s base deadline.

    At ``min_transfer_rate`` 512 KB/s the RETR may take 1 s + 5.2 MB / 512 KB/s ~ 11 s: retrieved
    whole. At 4 MB/s it may take ~2.3 s, less than the stream can possibly need: cut off.
    """
    big = message(0, 5 * 1024 * 1024)
    dovecot.seed(dovecot_user, [big])
    proxy = fault_proxy(dovecot.pop3_port)
    proxy.set_fault(Fault.drip(0.02, chunk=32 * 1024))
    account = make_account(
        proxy.port,
        TlsMode.NONE,
        timeout=10,
        command_deadline=DEADLINE,
        min_transfer_rate=512 * 1024 if rate == "512KB" else 4 * 1024 * 1024,
    )
    mailbox = Pop3Transport().open(account, pop3_credentials)
    try:
        refs = mailbox.list_new("INBOX", (), True, None)
        if cut_off:
            with pytest.raises(TransportTimeout, match="RETR 1 did not complete within its deadline"):
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
    proxy = fault_proxy(dovecot.pop3_port)
    plugins = load_plugins()
    config = load_config(
        "accounts:\n"
        "  acct:\n"
        "    email: user@example.test\n"
        f"    ca_file: {ca_pem}\n"
        f"    auth: {{method: password, username: {dovecot_user.name}, password: '${{env:PW}}'}}\n"
        f"    receive: {{protocol: pop3, host: 127.0.0.1, port: {proxy.port}, tls: none, timeout: 10s,\n"
        "               command_deadline: 1s, min_transfer_rate: 1MB, replicate_everything: true,\n"
        "               after_replication: delete}\n",
        plugins,
        environ={"PW": dovecot_user.password},
    )
    store = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    try:
        # the first batch is retrieved, stored and deleted (DELE + QUIT) in the first session; the
        # second batch gets a session of its own: drip (100 B/s) from ~50 messages into its RETRs
        proxy.queue(None, Fault.drip(0.01, after=sum(len(m) for m in messages[500:550])))
        with pytest.raises(TransportError) as caught:
            replicate("acct", store=store, plugins=plugins, config=config)
        print(f"B3 replication: {caught.value}")
        assert isinstance(caught.value, TransportTimeout) and caught.value.temporary
        assert "RETR" in str(caught.value) and "deadline" in str(caught.value)
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
