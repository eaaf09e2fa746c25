"""B2 for SMTP: a blackholed connection is detected by the account's timeout (2 s here), never a hang.

The tests check the error type, not a stopwatch; pytest-timeout guards against a real hang.
"""

from __future__ import annotations

from typing import Any

import pytest

from mailconduit import TlsMode, TransportTimeout
from mailconduit.testing import Fault, Pause, SmtpServer
from mailconduit_smtp import SmtpTransport

from .conftest import MakeAccount

pytestmark = pytest.mark.timeout(60)
BIG = b"Subject: big\r\n\r\n" + (b"0123456789abcdef" * 4 + b"\r\n") * 5_000  # 330 KB


def test_silent_server_times_out_at_the_greeting(scripted_server: Any, make_account: MakeAccount) -> None:
    server = scripted_server([Pause(30)])
    with pytest.raises(TransportTimeout) as caught:
        SmtpTransport().open(make_account(server.port, timeout=2), None)
    assert caught.value.temporary is True
    assert "no answer within 2 s" in str(caught.value) and "127.0.0.1" in str(caught.value)


def test_blackhole_during_the_tls_handshake_is_a_timeout_not_a_tls_error(
    smtp_server: SmtpServer, fault_proxy: Any, make_account: MakeAccount
) -> None:
    proxy = fault_proxy(smtp_server.tls_port)
    proxy.set_fault(Fault.blackhole(after=0, direction="up"))
    with pytest.raises(TransportTimeout):
        SmtpTransport().open(make_account(proxy.port, TlsMode.TLS, timeout=2), None)


@pytest.mark.parametrize("tls", [TlsMode.NONE, TlsMode.TLS])
def test_blackhole_mid_data_times_out_then_a_healed_path_delivers(
    tls: TlsMode, smtp_server: SmtpServer, fault_proxy: Any, make_account: MakeAccount
) -> None:
    target = smtp_server.plain_port if tls is TlsMode.NONE else smtp_server.tls_port
    proxy = fault_proxy(target)
    proxy.set_fault(Fault.blackhole(after=60_000, direction="up"))  # well inside the 320 KB of DATA
    account = make_account(proxy.port, tls, timeout=2)
    session = SmtpTransport().open(account, None)
    with pytest.raises(TransportTimeout) as caught:
        session.send("support@example.test", ["a@example.test"], BIG)
    assert caught.value.temporary is True
    assert not session.is_open
    session.close()
    assert smtp_server.messages == []
    proxy.heal()
    with SmtpTransport().open(account, None) as retry:
        retry.send("support@example.test", ["a@example.test"], BIG)
    assert [m.data for m in smtp_server.messages] == [BIG]
