"""Our own header guards: forbidden characters named per field, encoded-words, folding (fact 1, C6)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailconduit import Address, HeaderInjectionError
from mailconduit._mime._charsets import decode_encoded_words
from mailconduit._mime._headers import (
    check_value,
    encode_words,
    fold,
    format_address,
    is_field_name,
    unstructured_tokens,
)

FORBIDDEN = ["\r", "\n", "\r\n", "\x00", "\x0b", "\x0c", "\x1c", "\x7f", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("char", FORBIDDEN, ids=[repr(c) for c in FORBIDDEN])
def test_check_value_refuses_line_breaks_and_controls_naming_the_field(char: str) -> None:
    with pytest.raises(HeaderInjectionError) as info:
        check_value("subject", f"Hello{char}Bcc: victim@example.org")
    assert info.value.field == "subject"
    assert str(info.value).startswith("subject: contains U+")


def test_tab_and_ordinary_unicode_are_allowed() -> None:
    check_value("subject", "tab\there, café, 日本語")


@pytest.mark.parametrize("name", ["X-Ok", "X_ok.1", "List-Unsubscribe"])
def test_valid_field_names(name: str) -> None:
    assert is_field_name(name)


@pytest.mark.parametrize("name", ["", "X Bad", "X:Bad", "Bcc\r\nX", "Ünicode", "X\x00", "a" * 77])
def test_invalid_field_names(name: str) -> None:
    assert not is_field_name(name)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_encoded_words_decode_back_exactly_and_stay_short(text: str) -> None:
    words = encode_words(text)
    assert all(len(w) <= 75 and w.isascii() for w in words)
    assert decode_encoded_words(" ".join(words), []) == text


def test_plain_ascii_subject_stays_readable_and_odd_text_is_encoded() -> None:
    assert unstructured_tokens("subject", "Quarterly report") == ["Quarterly", "report"]
    for odd in (" leading", "two  spaces", "looks =?utf-8?q?like?= a word", "tab\tinside", "café"):
        tokens = unstructured_tokens("subject", odd)
        assert all(t.startswith("=?utf-8?b?") for t in tokens)
        assert decode_encoded_words(" ".join(tokens), []) == odd


def test_fold_keeps_lines_short_and_crlf_terminated() -> None:
    data = fold("Subject", ["word"] * 100)
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(b" ") for line in lines[1:-1])


def test_format_address_quotes_encodes_and_idna() -> None:
    assert (
        format_address("to[0]", Address("jane@example.org", "Doe, Jane")) == '"Doe, Jane" <jane@example.org>'
    )
    assert format_address("to[0]", Address("jane@example.org", "Jane Doe")) == "Jane Doe <jane@example.org>"
    assert format_address("to[0]", Address("k@bücher.de")) == "k@xn--bcher-kva.de"
    encoded = format_address("to[0]", Address("a@example.org", "Zoë"))
    assert encoded.startswith("=?utf-8?b?") and encoded.endswith(" <a@example.org>")


def test_format_address_names_the_field_of_an_injected_display_name() -> None:
    with pytest.raises(HeaderInjectionError) as info:
        format_address("cc[2]", Address("a@example.org", "Eve\r\nBcc: x@evil.example"))
    assert info.value.field == "cc[2].display_name"
