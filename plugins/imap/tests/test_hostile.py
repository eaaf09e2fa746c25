"""B6: hostile replies from a fake server end in a clean mailconduit error naming the account, RSS < 100 MB.

Each client runs in a subprocess so its peak RSS (VmHWM; ``ru_maxrss`` keeps the parent's) is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from mailconduit.testing import HUGE_LITERAL, Close, Expect, Pause, Repeat, Send, long_line

from .fakeimap import SELECT, logged_in

CLIENT = r"""
import json, sys
from datetime import timedelta
from mailconduit import Account, Credentials, MessageRef, Secret, TlsMode
from mailconduit_imap import ImapSettings, ImapTransport

port, op = int(sys.argv[1]), sys.argv[2]
account = Account(name="hostile-test", email="a@example.test", receive=ImapSettings(
    protocol="imap", host="127.0.0.1", port=port, tls=TlsMode.NONE, timeout=timedelta(seconds=20)))
got = []
try:
    credentials = Credentials(kind="password", username="alice", secret=Secret("pw"))
    mailbox = ImapTransport().open(account, credentials)
    if op == "select":
        mailbox.state("INBOX")
    elif op == "fetch":
        for raw in mailbox.fetch("INBOX", [MessageRef("7:1"), MessageRef("7:2")]):
            got.append(raw.data.decode())
    result = {"error": None}
except Exception as exc:
    mro = [c.__name__ for c in type(exc).__mro__]
    result = {"error": type(exc).__name__, "message": str(exc), "mro": mro}
result["got"] = got
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")]
result["maxrss_mb"] = peak[0] / 1024
print(json.dumps(result))
"""


def run_client(port: int, op: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port), op], capture_output=True, text=True, timeout=120, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


FETCH = Expect(rb"UID FETCH 1:2 \(UID FLAGS INTERNALDATE BODY\.PEEK\[\]\)")
ONE = b"* 1 FETCH (UID 1 FLAGS () BODY[] {5}\r\nfirst)\r\n"

CASES = {
    "tebibyte-literal-greeting": ([Send(HUGE_LITERAL)], "open", "ProtocolError", "1099511627776"),
    "tebibyte-literal-in-fetch": (
        [*logged_in(), *SELECT, FETCH, Send(HUGE_LITERAL)],
        "fetch",
        "ProtocolError",
        "1099511627776",
    ),
    "ten-megabyte-line": (
        [*logged_in(), Expect(rb"SELECT"), Send(long_line())],
        "select",
        "ProtocolError",
        "line longer",
    ),
    "million-exists": (
        [*logged_in(), Expect(rb"SELECT"), Repeat(b"* 1 EXISTS\r\n", 10**6)],
        "select",
        "ProtocolError",
        "untagged",
    ),
    "foreign-tag": (
        [*logged_in(), Expect(rb"SELECT"), Send(b"ZZ999 NO not yours\r\n")],
        "select",
        "ProtocolError",
        "ZZ999",
    ),
    "uid-never-asked": (
        [*logged_in(), *SELECT, FETCH, Send(b"* 9 FETCH (UID 99 BODY[] {4}\r\nevil)\r\n")],
        "fetch",
        "ProtocolError",
        "UID 99",
    ),
    "bye-mid-fetch": (
        [*logged_in(), *SELECT, FETCH, Send(ONE + b"* BYE going down\r\n"), Pause(0.2), Close()],
        "fetch",
        "TransportError",
        "going down",
    ),
    "eof-mid-literal": (
        [*logged_in(), *SELECT, FETCH, Send(b"* 1 FETCH (UID 1 BODY[] {500}\r\nshort"), Close()],
        "fetch",
        "TransportError",
        "closed",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_reply_is_a_clean_error(case: str, scripted_server: Any) -> None:
    script, op, error, detail = CASES[case]
    server = scripted_server(script)
    result = run_client(server.port, op)
    assert result["error"] is not None, result
    assert error in result["mro"], result
    assert "'hostile-test'" in result["message"] and "127.0.0.1" in result["message"], result
    assert detail in result["message"], result
    assert result["maxrss_mb"] < 100, result
    if case == "bye-mid-fetch":
        assert result["got"] == ["first"]  # what arrived before the BYE was streamed out
