"""SASL strings: exact wire formats, separators refused inside fields, mechanism choice."""

from __future__ import annotations

import base64

import pytest

from mailconduit_smtp._sasl import choose_mechanism, login_responses, oauthbearer, plain, xoauth2


def test_plain_without_and_with_authzid() -> None:
    assert plain("alice", "pw") == b"\0alice\0pw"
    assert plain("alice", "pw", "shared@example.org") == b"shared@example.org\0alice\0pw"


def test_plain_is_utf8_for_non_ascii_passwords() -> None:
    assert plain("alice", "p\u00e4ss") == b"\0alice\0p\xc3\xa4ss"


def test_login_answers_user_then_password() -> None:
    assert login_responses("alice", "pw") == (b"alice", b"pw")


def test_xoauth2_matches_the_documented_form() -> None:
    raw = xoauth2("alice@example.org", "ya29.token")
    assert raw == b"user=alice@example.org\x01auth=Bearer ya29.token\x01\x01"
    # Google's documented example encodes this exact layout
    assert base64.b64encode(
        xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    ) == (
        b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52"
        b"YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )


def test_oauthbearer_escapes_comma_and_equals() -> None:
    assert oauthbearer("a,b=c@example.org", "t") == b"n,a=a=2Cb=3Dc@example.org,\x01auth=Bearer t\x01\x01"


@pytest.mark.parametrize(
    ("build", "args"),
    [
        (plain, ("al\0ice", "pw")),
        (plain, ("alice", "p\0w")),
        (plain, ("alice", "pw", "sh\0ared")),
        (login_responses, ("alice\r\n", "pw")),
        (xoauth2, ("alice\x01auth=Bearer evil", "t")),
        (xoauth2, ("alice", "t\x01\x01")),
        (oauthbearer, ("alice", "t\x01")),
    ],
)
def test_separators_inside_a_field_are_refused(build: object, args: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="separator"):
        build(*args)  # type: ignore[operator]


def test_refusal_never_shows_the_value() -> None:
    with pytest.raises(ValueError) as caught:
        plain("alice", "secret\0value")
    assert "secret" not in str(caught.value)


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
