"""The SASL builders: PLAIN with and without authzid, XOAUTH2's second step, separators refused."""

from __future__ import annotations

import base64

import pytest

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


@pytest.mark.parametrize(
    ("build", "args", "field"),
    [
        (_sasl.plain, ("al\0ice", "pw"), "username"),
        (_sasl.plain, ("alice", "p\nw"), "password"),
        (_sasl.plain, ("alice", "pw", "sh\rared"), "authzid"),
        (_sasl.xoauth2, ("a\x01b", "tok"), "user"),
        (_sasl.xoauth2, ("alice", "tok\r\nQUIT"), "token"),
    ],
)
def test_separators_inside_a_field_are_refused(build: object, args: tuple[str, ...], field: str) -> None:
    with pytest.raises(ValueError, match=f"SASL {field} contains"):
        build(*args)  # type: ignore[operator]
