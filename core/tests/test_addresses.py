"""Strict address parsing (RELIABILITY.md C7): parsed exactly as written, or refused; never rewritten."""

from __future__ import annotations

import pytest

from mailconduit import AddressError, parse_address, parse_address_list

CVE_2023_27043 = [
    "alice@example.org)<bob@example.org>",
    "alice@example.org) <bob@example.org>",
    "alice@example.org<bob@example.org>",
    "<alice@example.org>bob@example.org",
    "alice@example.org, bob@example.org",
    '"alice@example.org" <bob@example.org',
    "alice@example.org)",
    "(alice@example.org",
    "alice@example.org <bob@example.org>",
    "alice@example.org@bob@example.org",
    "alice<@example.org>",
    "<alice@example.org><bob@example.org>",
    '"alice@example.org>"@example.org)<x@y.org>',
    "alice@",
    "@example.org",
    "alice@example..org",
    "alice@-example.org",
    "a\r\nb@example.org",
    "Bob <bob@example.org>\x00",
    "Bob <bob@example.org>\u2028",
    "",
    "   ",
]


@pytest.mark.parametrize("text", CVE_2023_27043)
def test_ambiguous_or_broken_addresses_are_refused(text: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_address(text, field="to")
    assert str(info.value).startswith("to: ")


EXACT = [
    ("alice@example.org", "alice@example.org", None),
    ("<alice@example.org>", "alice@example.org", None),
    ("Alice Liddell <alice@example.org>", "alice@example.org", "Alice Liddell"),
    ('"Liddell, Alice" <alice@example.org>', "alice@example.org", "Liddell, Alice"),
    ('"a \\"quoted\\" name" <a@example.org>', "a@example.org", 'a "quoted" name'),
    ('"john doe"@example.org', '"john doe"@example.org', None),
    ('"a@b"@example.org', '"a@b"@example.org', None),
    ("jörg@bücher.de", "jörg@bücher.de", None),
    ("Jörg <jörg@xn--bcher-kva.de>", "jörg@xn--bcher-kva.de", "Jörg"),
    ("用户@例子.广告", "用户@例子.广告", None),
    ("user+tag@sub.example.co.uk", "user+tag@sub.example.co.uk", None),
    ("o'brien@example.org", "o'brien@example.org", None),
    ("x@[192.0.2.1]", "x@[192.0.2.1]", None),
    ("Dr. J. Smith <js@example.org>", "js@example.org", "Dr. J. Smith"),
]


@pytest.mark.parametrize(("text", "spec", "name"), EXACT)
def test_valid_forms_parse_exactly(text: str, spec: str, name: str | None) -> None:
    address = parse_address(text)
    assert address.addr_spec == spec
    assert address.display_name == name


def test_lists_accept_comma_and_semicolon_and_name_the_bad_item() -> None:
    parsed = parse_address_list('a@example.org; "Doe, J" <j@example.org>, b@example.org')
    assert [a.addr_spec for a in parsed] == ["a@example.org", "j@example.org", "b@example.org"]
    with pytest.raises(AddressError) as info:
        parse_address_list("a@example.org; alice@example.org)<bob@example.org>", field="cc")
    assert str(info.value).startswith("cc[1]: ")


def test_local_part_over_64_characters_is_refused() -> None:
    with pytest.raises(AddressError):
        parse_address("a" * 65 + "@example.org")
