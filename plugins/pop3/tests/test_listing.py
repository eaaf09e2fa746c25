"""A9's parsing half: malformed STAT, UIDL and LIST lines are refused with the line quoted."""

from __future__ import annotations

import pytest

from mailconduit_pop3._listing import MalformedReply, parse_list, parse_stat, parse_uidl


def test_well_formed_listings_parse() -> None:
    assert parse_stat(b"3 1200") == (3, 1200)
    assert parse_uidl([b"1 a", b"3 c~!", b"2 b"], 3) == {1: "a", 3: "c~!", 2: "b"}
    assert parse_list([b"1 10", b"2 20 extra info"], 2) == {1: 10, 2: 20}


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([b"1"], "not 'number unique-id'"),
        ([b"1 a b"], "not 'number unique-id'"),
        ([b"x a"], "does not start with a message number"),
        ([b"0 a"], "does not start with a message number"),
        ([b"-1 a"], "does not start with a message number"),
        ([b"3 a"], "STAT said there are 2"),
        ([b"1 a", b"1 b"], "lists message 1 twice"),
        ([b"1 a", b"2 a"], "the same unique-id"),
        ([b"1 " + b"u" * 71], "1-70 printable"),
        ([b"1 caf\xc3\xa9"], "1-70 printable"),
        ([b"1 \x00"], "1-70 printable"),
    ],
)
def test_malformed_uidl_lines_are_refused_and_quoted(lines: list[bytes], why: str) -> None:
    with pytest.raises(MalformedReply) as caught:
        parse_uidl(lines, 2)
    assert why in str(caught.value)
    assert caught.value.line == lines[-1][:200]  # the offending line is kept and quoted


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([b"1"], "not 'number size'"),
        ([b"1 big"], "size is not a number"),
        ([b"1 -5"], "size is not a number"),
        ([b"9 10"], "STAT said there are 2"),
        ([b"2 1", b"2 1"], "twice"),
    ],
)
def test_malformed_list_lines_are_refused(lines: list[bytes], why: str) -> None:
    with pytest.raises(MalformedReply, match=why):
        parse_list(lines, 2)


def test_malformed_stat_is_refused() -> None:
    with pytest.raises(MalformedReply, match="STAT reply"):
        parse_stat(b"lots")
