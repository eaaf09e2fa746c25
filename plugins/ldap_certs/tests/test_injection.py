"""G3: hostile addresses reach slapd as exactly escaped literals and never return a decoy's certificate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mailconduit import Address
from mailconduit.testing import SlapdServer
from mailconduit_ldap_certs import ExpiringCache, lookup_certificates, mail_filter

from .conftest import MakeAccount, email_cert

FUZZ = Path("/work/shared/corpora/payloadsallthethings/ldap")
HOSTILE = ["*", "(", ")", "\\", "\0", "*@example.test", "a*)(mail=*", "x)(|(mail=*", "decoy\\2a@example.test"]


def _payloads() -> list[str]:
    lines: list[str] = []
    for name in ("LDAP_FUZZ.txt", "LDAP_FUZZ_SMALL.txt"):
        path = FUZZ / name
        if path.exists():
            lines += [
                line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line
            ]
    return list(dict.fromkeys(HOSTILE + lines))


def _canonical(filter_: str) -> bytes:
    """A ``(mail=...)`` filter with only the five specials escaped, upper-case: how slapd logs it.

    slapd re-escapes just ``( ) * \\`` (and cuts a value at NUL, a C string); other bytes are
    printed raw, and mail (caseIgnoreIA5Match) may be case-folded.
    """
    value = filter_.removeprefix("(mail=").removesuffix(")")
    raw = re.sub(rb"\\([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), value.encode("utf-8"))
    raw = raw.split(b"\0", 1)[0].lower()
    return b"(mail=" + b"".join(b"\\%02X" % b if b in b"()*\\" else bytes([b]) for b in raw) + b")"


@pytest.fixture(scope="module")
def decoys(slapd: SlapdServer, test_ca: Any) -> list[bytes]:
    """Entries any injected wildcard or OR would match, each with its own certificate."""
    ders = []
    for mail in (
        "decoy-1@example.test",
        "decoy-2@example.test",
        "admin@example.test",
        "*",
        "decoy*@example.test",
    ):
        der = email_cert(test_ca, mail if "@" in mail and "*" not in mail else "decoy-x@example.test")
        slapd.add_entry(mail, [der])
        ders.append(der)
    return ders


def test_fuzz_lists_return_no_decoy_and_log_the_exact_filter(
    slapd: SlapdServer, make_account: MakeAccount, decoys: list[bytes]
) -> None:
    payloads = _payloads()
    assert len(payloads) > len(HOSTILE) + 20
    account = make_account()
    for payload in payloads:
        before = len(slapd.logged_filters())
        sent = payload if len(payload) >= 3 else payload + "@x"  # an Address needs 3 characters
        answer = lookup_certificates([Address(sent)], account, cache=ExpiringCache(60))
        returned = [c.der for certs in (answer or {}).values() for c in certs]
        assert not set(returned) & set(decoys), payload
        logged = [f for f in slapd.logged_filters()[before:] if f.startswith("(mail=")]
        assert len(logged) == 1, (payload, logged)
        assert _canonical(logged[0]) == _canonical(mail_filter(sent)), (payload, logged)
        assert logged[0].count("(") == 1  # one assertion: nothing the payload wrote became syntax
