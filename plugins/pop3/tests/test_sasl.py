"""The AUTH lines: PLAIN with and without authzid, XOAUTH2's second step."""

from __future__ import annotations

import base64

from mailconduit_pop3 import _sasl


def test_plain_command_carries_authzid_authcid_and_password() -> None:
    line = _sasl.plain_command("admin", "s3cret", "shared")
    assert line.startswith(b"AUTH PLAIN ") and line.endswith(b"\r\n")
    assert base64.b64decode(line.split()[2]) == b"shared\0admin\0s3cret"
    assert base64.b64decode(_sasl.plain_command("alice", "pw").split()[2]) == b"\0alice\0pw"


def test_xoauth2_line_is_the_base64_second_step() -> None:
    line = _sasl.xoauth2_line("shared@example.org", "tok.en")
    assert line.endswith(b"\r\n") and b" " not in line
    assert base64.b64decode(line) == b"user=shared@example.org\x01auth=Bearer tok.en\x01\x01"
