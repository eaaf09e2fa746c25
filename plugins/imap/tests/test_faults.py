"""B2: a blackhole mid-FETCH is detected by the account's read timeout (TransportTimeout, not a hang);
a cut mid-FETCH is a temporary TransportError; a fresh connection after heal works."""

from __future__ import annotations

from typing import Any

import pytest

from mailconduit import Credentials, TlsError, TlsMode, TransportError, TransportTimeout
from mailconduit.testing import DovecotServer, Fault, MailUser
from mailconduit_imap import ImapTransport

from .conftest import MakeAccount


@pytest.mark.parametrize("fault", ["blackhole", "cut"])
@pytest.mark.parametrize("tls", [TlsMode.NONE, TlsMode.TLS])
def test_fault_mid_fetch_is_a_clean_error(
    fault: str,
    tls: TlsMode,
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    user_credentials: Credentials,
    fault_proxy: Any,
    make_account: MakeAccount,
) -> None:
    messages = [f"Subject: {n}\r\n\r\n".encode() + b"y" * 20_000 + b"\r\n" for n in range(30)]
    dovecot.seed(dovecot_user, messages)
    proxy = fault_proxy(dovecot.imaps_port if tls is TlsMode.TLS else dovecot.imap_port)
    # login and UID SEARCH take a few KB: the fault hits 200 KB into the 600 KB fetch
    proxy.set_fault(Fault.blackhole(200_000) if fault == "blackhole" else Fault.cut(200_000))
    account = make_account(proxy.port, tls, timeout=2)
    mailbox = ImapTransport().open(account, user_credentials)
    refs = mailbox.list_new("INBOX", (), True, None)
    got: list[bytes] = []
    expected = TransportTimeout if fault == "blackhole" else TransportError
    with pytest.raises(expected) as caught:
        for raw in mailbox.fetch("INBOX", refs):
            got.append(raw.data)
    mailbox.close()
    assert caught.value.temporary is True and "'support'" in str(caught.value)
    assert 0 < len(got) < len(messages) and got == messages[: len(got)]
    proxy.heal()
    mailbox = ImapTransport().open(account, user_credentials)
    try:
        assert [raw.data for raw in mailbox.fetch("INBOX", refs)] == messages
    finally:
        mailbox.close()


def test_a_connection_closed_during_the_tls_handshake_is_a_lost_connection_not_a_tls_failure(
    dovecot: DovecotServer, user_credentials: Credentials, fault_proxy: Any, make_account: MakeAccount
) -> None:
    """A server that restarts (or a link cut) mid-handshake is worth retrying, as for SMTP."""
    proxy = fault_proxy(dovecot.imaps_port)
    proxy.set_fault(Fault.cut(20, rst=False))  # a FIN after the first bytes of the server's hello
    account = make_account(proxy.port, TlsMode.TLS, timeout=5)
    with pytest.raises(TransportError) as caught:
        ImapTransport().open(account, user_credentials)
    assert not isinstance(caught.value, TlsError), caught.value
    assert caught.value.temporary is True and "connection lost during" in str(caught.value)
    proxy.heal()
    ImapTransport().open(account, user_credentials).close()
