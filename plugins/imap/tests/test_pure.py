"""The pure helpers: UID sets, modified UTF-7, login choice, argument checks, LIST and FETCH parsing."""

from __future__ import annotations

import doctest
import random

import pytest

from mailconduit import HeaderInjectionError
from mailconduit_imap import _args, _fetch, _folders, _sasl, _uidset, _utf7


@pytest.mark.parametrize("module", [_args, _fetch, _folders, _sasl, _uidset, _utf7])
def test_doctests(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_uid_chunks_cover_every_uid_once_within_both_limits() -> None:
    rng = random.Random(5)
    uids = sorted(rng.sample(range(1, 2_000_000), 20_000)) + list(range(3_000_000, 3_002_000))
    seen: list[int] = []
    for text, members in _uidset.chunks(uids):
        assert len(members) <= _uidset.MAX_UIDS and len(text) <= _uidset.MAX_BYTES
        assert _uidset.parse(text) == members
        seen.extend(members)
    assert seen == uids
    # a long contiguous run is cut at 500 UIDs, still as ranges
    assert [t for t, _ in _uidset.chunks(range(1, 1201))] == ["1:500", "501:1000", "1001:1200"]


def test_uid_chunks_respect_the_byte_limit_for_scattered_uids() -> None:
    uids = list(range(1_000_000_000, 1_000_000_000 + 2 * 500, 2))
    chunks = list(_uidset.chunks(uids, max_bytes=1000))
    assert all(len(t) <= 1000 for t, _ in chunks) and len(chunks) > 1
    assert [u for _, m in chunks for u in m] == uids


def test_uidset_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        _uidset.compress([0])
    with pytest.raises(ValueError):
        _uidset.parse("1:99", limit=10)


@pytest.mark.parametrize("name", ["INBOX", "Entwürfe", "a&b", "&-", "日本語/子", "mixed ü & 💌 end", "~"])
def test_utf7_round_trips(name: str) -> None:
    encoded = _utf7.encode_mailbox(name)
    assert encoded.isascii() and _utf7.decode_mailbox(encoded) == name


def test_utf7_keeps_malformed_shifts() -> None:
    assert _utf7.decode_mailbox("a&!!-b") == "a&!!-b"


@pytest.mark.parametrize("value", ["victim\r\nX1 DELETE victim", "a\nb", "a\rb", "a\0b"])
def test_control_characters_are_refused_naming_the_argument(value: str) -> None:
    with pytest.raises(HeaderInjectionError, match="IMAP mailbox name"):
        _args.quote_mailbox(value)
    with pytest.raises(HeaderInjectionError, match="IMAP flag"):
        _args.flag(value)
    with pytest.raises(HeaderInjectionError, match="IMAP search string"):
        _args.quote_string("search string", value)


def test_quoting_escapes_quotes_and_backslashes() -> None:
    assert _args.quote_mailbox('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(HeaderInjectionError):
        _args.flag("\\Seen) (\\Deleted")
    with pytest.raises(HeaderInjectionError):
        _args.quote_mailbox("")


def test_login_method_choice() -> None:
    assert _sasl.choose_method("password", ["LOGINDISABLED"], authzid=False, ascii_only=True) is None
    assert _sasl.choose_method("password", ["AUTH=PLAIN"], authzid=False, ascii_only=False) == "PLAIN"
    assert _sasl.choose_method("bearer", ["AUTH=PLAIN"], authzid=False, ascii_only=True) is None
