"""G2: values that go on SMTP command lines are refused, with the field named, when they could split it."""

from __future__ import annotations

import pytest

from mailconduit import HeaderInjectionError
from mailconduit_smtp._envelope import check_address, check_ehlo_name, check_parameter, needs_smtputf8

BAD_CHARACTERS = ["\r", "\n", "\0", " ", "\t", "\x7f", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("char", BAD_CHARACTERS)
def test_ehlo_name_refused(char: str) -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        check_ehlo_name(f"mail{char}RCPT TO:<x@example.org>")
    assert caught.value.field == "send.ehlo_name"


@pytest.mark.parametrize("char", BAD_CHARACTERS)
def test_address_refused(char: str) -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        check_address(f"alice@example.org>{char}RCPT TO:<evil@example.org", "envelope recipient 2")
    assert caught.value.field == "envelope recipient 2"
    assert "envelope recipient 2" in str(caught.value)


@pytest.mark.parametrize("address", ["a>b@example.org", "<a@example.org", "a@example.org> SIZE=1"])
def test_angle_brackets_refused(address: str) -> None:
    with pytest.raises(HeaderInjectionError):
        check_address(address, "envelope from")


@pytest.mark.parametrize(
    "address", ["", "alice@example.org", "j\u00f6rg@b\u00fccher.example", "a+b@[192.0.2.1]"]
)
def test_good_addresses_pass_unchanged(address: str) -> None:
    assert check_address(address, "envelope from") == address


@pytest.mark.parametrize(
    "parameter",
    [
        "SIZE=1\r\nRCPT TO:<evil@example.org>",
        "RET=HDRS ENVID=x",
        "NOTIFY=SUCCESS\0",
        "=x",
        "-BAD",
        "ENVID=a=b",
        "ENVID=",
        "ENVID=caf\u00e9",
    ],
)
def test_parameters_refused(parameter: str) -> None:
    with pytest.raises(HeaderInjectionError) as caught:
        check_parameter(parameter, "MAIL FROM parameter")
    assert caught.value.field == "MAIL FROM parameter"


@pytest.mark.parametrize("parameter", ["RET=HDRS", "ENVID=QQ314159", "NOTIFY=SUCCESS,FAILURE", "SMTPUTF8"])
def test_good_parameters_pass(parameter: str) -> None:
    assert check_parameter(parameter, "p") == parameter


def test_non_ascii_ehlo_name_refused_and_empty_refused() -> None:
    with pytest.raises(HeaderInjectionError, match="xn--"):
        check_ehlo_name("b\u00fccher.example")
    with pytest.raises(HeaderInjectionError, match="empty"):
        check_ehlo_name("")


def test_needs_smtputf8() -> None:
    assert not needs_smtputf8("a@example.org", "b@example.org")
    assert needs_smtputf8("a@example.org", "j\u00f6rg@example.org")
