"""The K1 sweep itself: it finds a leaked canary in every form and fails the run."""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path

from mailconduit.testing import canary, find_canaries

LEAKY_SUITE = """
import base64, logging
from mailconduit.testing import canary

def test_leaks_in_a_log_record():
    secret = canary("password")
    blob = base64.b64encode(b"\\0bob\\0" + secret.encode())
    logging.getLogger("mailconduit.smtp").debug("AUTH PLAIN %s", blob)

def test_clean(tmp_path):
    (tmp_path / "state.txt").write_text("nothing secret here")
"""


def test_every_form_of_a_leak_is_found() -> None:
    secret = canary("token")
    forms = [
        secret.encode(),
        urllib.parse.quote(secret).encode(),
        secret.encode().hex().encode(),
        base64.b64encode(b"\0alice@example.test\0" + secret.encode()),
        base64.b64encode(f"user=alice@example.test\x01auth=Bearer {secret}\x01\x01".encode()),
    ]
    for blob in forms:
        assert find_canaries(b"prefix " + blob + b" suffix"), blob
    assert find_canaries(b"an innocent line of log text") == []


def test_a_leaking_suite_fails_and_a_clean_one_passes(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(LEAKY_SUITE))
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "mailconduit._testing.leak_sweep",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        str(tmp_path),
    ]
    leaky = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert leaky.returncode == 1, leaky.stdout
    assert "LEAK log record: password:" in leaky.stdout
    assert "2 passed" in leaky.stdout
    (tmp_path / "test_leaky.py").write_text("def test_clean():\n    assert True\n")
    clean = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout
    assert "0 leaks" in clean.stdout
