"""Secrets at rest (RELIABILITY.md K2): keys, rotation, clear errors, and never a plaintext fallback."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from mailconduit._crypto import KEY_ENV, KEY_FILE_ENV, Keyring, load_keyring, new_key
from mailconduit._errors import EncryptionKeyError
from mailconduit._secret import Secret
from mailconduit._testing.canaries import remember


def _key() -> str:
    """A new key, registered with the K1 sweep so any leak of it fails the run."""
    return remember(new_key(), "fernet-key")


def _ring(*keys: str) -> Keyring:
    return load_keyring(environ={KEY_ENV: ",".join(keys)})


def test_new_key_is_a_fernet_key() -> None:
    key = new_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert new_key() != key


def test_round_trip_and_tokens_are_fernet() -> None:
    ring = _ring(_key())
    token = ring.encrypt(b"hello")
    assert token.startswith("gAAAAA")  # Fernet version byte 0x80
    assert b"hello" not in base64.urlsafe_b64decode(token)
    assert ring.decrypt(token, what="x") == b"hello"


def test_missing_key_names_the_variable_and_command() -> None:
    with pytest.raises(EncryptionKeyError) as info:
        load_keyring(environ={})
    assert str(info.value) == "no key: set MAILCONDUIT_KEY (make one with `mailconduit key new`)"


def test_malformed_key_names_its_position_never_the_key() -> None:
    good = _key()
    bad = remember("not-a-fernet-key-" + "x" * 20, "malformed-key")
    with pytest.raises(EncryptionKeyError) as info:
        _ring(good, bad)
    message = str(info.value)
    assert "key 2 of 2 is not a Fernet key" in message and KEY_ENV in message
    assert bad not in message and good not in message


def test_blank_entries_are_ignored() -> None:
    ring = load_keyring(environ={KEY_ENV: f" {_key()} ,, "})
    assert ring.count == 1


def test_wrong_key_is_a_clear_error_never_plaintext() -> None:
    token = _ring(_key()).encrypt(b"secret")
    with pytest.raises(
        EncryptionKeyError, match=r"^stored secret 'x' cannot be decrypted with the configured keys"
    ):
        _ring(_key()).decrypt(token, what="stored secret 'x'")
    with pytest.raises(EncryptionKeyError, match="cannot be decrypted"):
        _ring(_key()).decrypt("not a token at all", what="stored secret 'x'")


def test_rotation_encrypts_with_newest_decrypts_with_any() -> None:
    old, new = _key(), _key()
    old_token = _ring(old).encrypt(b"v")
    both = _ring(new, old)
    assert both.decrypt(old_token, what="x") == b"v"
    assert _ring(new).decrypt(both.encrypt(b"w"), what="x") == b"w"  # newest encrypts
    rotated = both.rotate(old_token, what="x")
    assert _ring(new).decrypt(rotated, what="x") == b"v"
    with pytest.raises(EncryptionKeyError):
        _ring(old).decrypt(rotated, what="x")


def test_config_secret_key_comes_first() -> None:
    from_config, from_env = _key(), _key()
    ring = load_keyring(Secret(from_config, source="env:OTHER"), environ={KEY_ENV: from_env})
    token = ring.encrypt(b"v")
    assert _ring(from_config).decrypt(token, what="x") == b"v"
    assert "OTHER" in ring.source
    assert from_config not in repr(ring) and from_env not in repr(ring)


def test_key_file_must_be_private(tmp_path: Path) -> None:
    key = new_key()  # written to a file on purpose, so not a sweep canary
    path = tmp_path / "key"
    path.write_text(key + "\n")
    path.chmod(0o644)
    with pytest.raises(EncryptionKeyError, match=r"mode 0644.*refused: run `chmod 600"):
        load_keyring(environ={KEY_FILE_ENV: str(path)})
    path.chmod(0o600)
    ring = load_keyring(environ={KEY_FILE_ENV: str(path)})
    assert ring.decrypt(Keyring([Secret(key)], "t").encrypt(b"v"), what="x") == b"v"
    assert str(path) in ring.source


def test_key_file_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EncryptionKeyError, match=r"key file .*cannot be read.*mailconduit key new"):
        load_keyring(environ={KEY_FILE_ENV: str(tmp_path / "nope")})


def test_env_wins_over_key_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("garbage")
    path.chmod(0o600)
    assert load_keyring(environ={KEY_ENV: _key(), KEY_FILE_ENV: str(path)}).source == KEY_ENV


def test_importing_crypto_does_not_load_cryptography() -> None:
    probe = "import sys, mailconduit._crypto; print('cryptography' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
