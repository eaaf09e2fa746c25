"""SASL strings: exact wire formats, separators refused inside fields, the value never shown."""

from __future__ import annotations

import base64
import doctest

import pytest

from mailconduit import HeaderInjectionError, _sasl, sasl_oauthbearer, sasl_plain, sasl_xoauth2


def test_doctests() -> None:
    assert doctest.testmod(_sasl).failed == 0


def test_plain_without_and_with_authzid() -> None:
    assert sasl_plain("alice", "pw") == b"\0alice\0pw"
    assert sasl_plain("alice", "pw", "shared@example.org") == b"shared@example.org\0alice\0pw"
    assert sasl_plain("admin", "s3cret", "shared") == b"shared\0admin\0s3cret"


def test_plain_is_utf8_for_non_ascii_passwords() -> None:
    assert sasl_plain("alice", "p\u00e4ss") == b"\0alice\0p\xc3\xa4ss"


def test_xoauth2_matches_the_documented_form() -> None:
    raw = sasl_xoauth2("alice@example.org", "ya29.token")
    assert raw == b"user=alice@example.org\x01auth=Bearer ya29.token\x01\x01"
    # Google's documented example encodes this exact layout
    assert base64.b64encode(
        sasl_xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    ) == (
        b"dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52"
        b"YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    )


def test_oauthbearer_escapes_comma_and_equals() -> None:
    raw = sasl_oauthbearer("a,b=c@example.org", "t")
    assert raw == b"n,a=a=2Cb=3Dc@example.org,\x01auth=Bearer t\x01\x01"


@pytest.mark.parametrize(
    ("build", "args", "field"),
    [
        (sasl_plain, ("al\0ice", "pw"), "SASL PLAIN username"),
        (sasl_plain, ("alice", "p\0w"), "SASL PLAIN password"),
        (sasl_plain, ("alice", "p\nw"), "SASL PLAIN password"),
        (sasl_plain, ("alice", "pw", "sh\0ared"), "SASL PLAIN authzid"),
        (sasl_plain, ("alice", "pw", "sh\rared"), "SASL PLAIN authzid"),
        (sasl_xoauth2, ("alice\x01auth=Bearer evil", "t"), "SASL XOAUTH2 user"),
        (sasl_xoauth2, ("a\x01b", "tok"), "SASL XOAUTH2 user"),
        (sasl_xoauth2, ("alice", "t\x01\x01"), "SASL XOAUTH2 token"),
        (sasl_xoauth2, ("a", "t\x01auth=x"), "SASL XOAUTH2 token"),
        (sasl_xoauth2, ("alice", "tok\r\nQUIT"), "SASL XOAUTH2 token"),
        (sasl_oauthbearer, ("alice", "t\x01"), "SASL OAUTHBEARER token"),
        (sasl_oauthbearer, ("al\nice", "t"), "SASL OAUTHBEARER user"),
    ],
)
def test_separators_inside_a_field_are_refused(build: object, args: tuple[str, ...], field: str) -> None:
    with pytest.raises(HeaderInjectionError, match=f"^{field}: contains U\\+00") as caught:
        build(*args)  # type: ignore[operator]
    assert caught.value.field == field


def test_a_control_character_that_is_no_separator_in_plain_is_kept() -> None:
    assert sasl_plain("alice", "p\x01w") == b"\0alice\0p\x01w"


def test_refusal_never_shows_the_value() -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        sasl_plain("alice", "secret\0value")
    assert "secret" not in str(caught.value)
