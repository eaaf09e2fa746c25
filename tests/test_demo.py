"""The README's demo runs to the end on this machine: servers, config check, store, sends, log."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from mailconduit.testing import missing_server

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_end_to_end() -> None:
    if not Path("/usr/sbin/dovecot").exists() and shutil.which("dovecot") is None:
        missing_server("dovecot", "apt-get install dovecot-imapd dovecot-pop3d")
    done = subprocess.run(
        [sys.executable, "-m", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "OK" in done.stdout  # config check
    assert "aiosmtpd received 4 messages over TLS" in done.stdout
    assert "attempt 1 of 3: sent: 250" in done.stdout
    assert "on the server now: INBOX 0, Processed 3" in done.stdout
    assert "fetched 0, stored 0" in done.stdout  # the second run
    assert "the view runs scripts: False; loads remote content: False" in done.stdout
