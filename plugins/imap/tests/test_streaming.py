"""D6: a 50 MB message is fetched byte-exact with peak RSS growth under 2x its size (measured in a subprocess:
/proc/self/status VmHWM after resetting the peak, since ru_maxrss keeps the parent's peak across exec)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

from mailconduit import Credentials
from mailconduit.testing import DovecotServer, MailUser

SIZE = 50 * 1024 * 1024

CLIENT = r"""
import hashlib, json, sys
from datetime import timedelta
from mailconduit import Account, Credentials, Secret, TlsMode
from mailconduit_imap import ImapSettings, ImapTransport

port, user, password = int(sys.argv[1]), sys.argv[2], sys.stdin.read()
account = Account(name="big", email="a@example.test", receive=ImapSettings(
    protocol="imap", host="127.0.0.1", port=port, tls=TlsMode.NONE, timeout=timedelta(seconds=30)))
mailbox = ImapTransport().open(account, Credentials(kind="password", username=user, secret=Secret(password)))
refs = mailbox.list_new("INBOX", (), True, None)
def status(field):  # kB; VmHWM is this process's own peak (ru_maxrss keeps the parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
with open("/proc/self/clear_refs", "w") as reset:  # peak := current
    reset.write("5")
before = status("VmRSS")
digests = [(len(raw.data), hashlib.sha256(raw.data).hexdigest()) for raw in mailbox.fetch("INBOX", refs)]
after = status("VmHWM")
mailbox.close()
print(json.dumps({"digests": digests, "growth": (after - before) * 1024, "before": before, "after": after}))
"""


def test_fifty_megabyte_message_streams(
    dovecot: DovecotServer, dovecot_user: MailUser, user_credentials: Credentials
) -> None:
    line = b"0123456789" * 7 + b"ab\r\n"
    body = line * (SIZE // len(line))
    message = b"Subject: big\r\n\r\n" + body
    dovecot.seed(dovecot_user, [message])
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(dovecot.imap_port), dovecot_user.name],
        input=user_credentials.secret.reveal(),
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["digests"] == [[len(message), hashlib.sha256(message).hexdigest()]]
    print(
        f"peak RSS growth {result['growth'] / len(message):.2f}x the message size",
        result["before"],
        result["after"],
    )
    assert result["growth"] < 2 * len(message), result["growth"] / len(message)
