"""SMTP AUTH helpers: the LOGIN answers, CR/LF/NUL refused in them, and the mechanism choice."""

from __future__ import annotations

import pytest

from mailconduit_smtp._sasl import choose_mechanism, login_responses


def test_login_answers_user_then_password() -> None:
    assert login_responses("alice", "pw") == (b"alice", b"pw")


@pytest.mark.parametrize("args", [("alice\r\n", "pw"), ("alice", "p\0w"), ("alice", "p\nw")])
def test_line_breaks_and_nul_in_login_answers_are_refused(args: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="separator"):
        login_responses(*args)


@pytest.mark.parametrize(
    ("kind", "offered", "expected"),
    [
        ("password", ["PLAIN", "LOGIN"], "PLAIN"),
        ("password", ["LOGIN", "PLAIN"], "PLAIN"),
        ("password", ["login", "xoauth2"], "LOGIN"),
        ("password", ["XOAUTH2"], None),
        ("bearer", ["PLAIN", "LOGIN", "XOAUTH2"], "XOAUTH2"),
        ("bearer", ["OAUTHBEARER"], "OAUTHBEARER"),
        ("bearer", ["PLAIN"], None),
        ("password", [], None),
    ],
)
def test_mechanism_choice(kind: str, offered: list[str], expected: str | None) -> None:
    assert choose_mechanism(kind, offered) == expected  # type: ignore[arg-type]
