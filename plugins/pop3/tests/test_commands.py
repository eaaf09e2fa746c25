"""G2: USER/PASS/UIDL and every other argument cannot carry a second command; the error names the argument."""

from __future__ import annotations

import pytest

from mailconduit import HeaderInjectionError
from mailconduit_pop3._commands import command_line

HOSTILE = [
    "alice\r\nDELE 1",
    "alice\nQUIT",
    "alice\rQUIT",
    "alice\0",
    "al ice",
    "alice\t",
    "alice\u2028DELE 1",
    "alice\x85",
    "alice\x7f",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("verb", ["USER", "PASS", "UIDL"])
def test_hostile_arguments_are_refused_naming_the_argument(verb: str, value: str) -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        command_line(verb, value)
    assert caught.value.field == f"POP3 {verb} argument"
    assert value not in str(caught.value)  # a password is never echoed
    assert "nothing was sent" in str(caught.value)


def test_empty_overlong_and_non_positive_arguments_are_refused() -> None:
    with pytest.raises(HeaderInjectionError, match="is empty"):
        command_line("USER", "")
    with pytest.raises(HeaderInjectionError, match="longer than 255"):
        command_line("PASS", "x" * 256)
    with pytest.raises(HeaderInjectionError, match="must be positive"):
        command_line("RETR", 0)


def test_good_arguments_make_one_line() -> None:
    assert command_line("USER", "alice@example.org") == b"USER alice@example.org\r\n"
    assert command_line("PASS", "pä$$wörd!") == "PASS pä$$wörd!\r\n".encode()
    assert command_line("RETR", 12) == b"RETR 12\r\n"
    assert command_line("STAT") == b"STAT\r\n"
    with pytest.raises(ValueError, match="unknown POP3 command"):
        command_line("EXPN", "x")
