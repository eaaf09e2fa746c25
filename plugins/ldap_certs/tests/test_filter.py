"""RFC 4515 escaping of filter values: every special byte becomes a literal, without a server."""

from __future__ import annotations

import pytest

from mailconduit_ldap_certs import escape_filter_value, mail_filter


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("bob@example.test", "bob@example.test"),
        ("*", "\\2a"),
        ("a(b)c", "a\\28b\\29c"),
        ("back\\slash", "back\\5cslash"),
        ("nul\0byte", "nul\\00byte"),
        ("*)(uid=*))(|(uid=*", "\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a"),
        ("space here", "space\\20here"),
        ("jörg@example.test", "j\\c3\\b6rg@example.test"),
    ],
)
def test_escape(value: str, escaped: str) -> None:
    assert escape_filter_value(value) == escaped


def test_mail_filter_has_exactly_one_assertion_whatever_the_value() -> None:
    for value in ["*", "a)(objectClass=*", "\\", "\0", ")(|(mail=*)"]:
        built = mail_filter(value)
        assert built.startswith("(mail=") and built.endswith(")")
        inner = built[len("(mail=") : -1]
        assert not set(inner) & set("()*\0")
