"""K2 in the store: secret columns and token caches hold Fernet tokens, never the plaintext."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from mailconduit._crypto import KEY_ENV, load_keyring, new_key
from mailconduit._errors import EncryptionKeyError
from mailconduit._secret import Secret
from mailconduit._store import open_store
from mailconduit._store._models import SecretRow, TokenCache
from mailconduit._store._repo_secrets import (
    get_secret,
    get_token_cache,
    put_secret,
    put_token_cache,
    rotate_all,
)
from mailconduit._testing.canaries import canary, remember


def _ring(*keys: str):  # type: ignore[no-untyped-def]
    return load_keyring(environ={KEY_ENV: ",".join(keys)})


def _file_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def test_secrets_and_token_cache_are_encrypted_at_rest(tmp_path: Path) -> None:
    password = canary("password")
    refresh = canary("refresh-token")
    ring = _ring(remember(new_key(), "fernet-key"))
    store = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    with store.session() as session:
        put_secret(session, ring, "smtp-password", Secret(password))
        put_token_cache(session, ring, "support", f'{{"refresh_token": "{refresh}"}}'.encode())
    with store.session() as session:
        token = session.scalars(select(SecretRow.token)).one()
        cache = session.scalars(select(TokenCache.token)).one()
        assert token.startswith("gAAAAA") and cache.startswith("gAAAAA")
        assert ring.decrypt(token, what="t") == password.encode()
    blob = _file_bytes(tmp_path)  # the database, its WAL and shared-memory files, as on disk
    assert password.encode() not in blob
    assert refresh.encode() not in blob
    assert b"smtp-password" in blob  # the name is stored, so the grep does see the file's contents
    with store.session() as session:
        value = get_secret(session, ring, "smtp-password")
        assert value is not None and value.reveal() == password
        assert repr(value) == "Secret(*** from store:smtp-password)"
        assert get_token_cache(session, ring, "support") == f'{{"refresh_token": "{refresh}"}}'.encode()
        assert get_secret(session, ring, "absent") is None
        assert get_token_cache(session, ring, "absent") is None
    store.close()


def test_put_replaces_and_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    ring = _ring(remember(new_key(), "fernet-key"))
    store = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    with store.session() as session:
        put_secret(session, ring, "x", Secret("first"))
        put_secret(session, ring, "x", Secret("second"))
        put_token_cache(session, ring, "acct", b"one")
        put_token_cache(session, ring, "acct", b"two")
    other = _ring(remember(new_key(), "fernet-key"))
    with store.session() as session:
        assert len(session.scalars(select(SecretRow)).all()) == 1
        assert get_token_cache(session, ring, "acct") == b"two"
        with pytest.raises(EncryptionKeyError) as info:
            get_secret(session, other, "x")
        assert str(info.value).startswith("stored secret 'x' cannot be decrypted with the configured keys")
        with pytest.raises(EncryptionKeyError, match="token cache of account 'acct' cannot be decrypted"):
            get_token_cache(session, other, "acct")
    store.close()


def test_rotate_all_re_encrypts_with_the_newest_key(tmp_path: Path) -> None:
    old, new = remember(new_key(), "fernet-key"), remember(new_key(), "fernet-key")
    store = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    with store.session() as session:
        put_secret(session, _ring(old), "a", Secret("va"))
        put_secret(session, _ring(old), "b", Secret("vb"))
        put_token_cache(session, _ring(old), "acct", b"cache")
    with store.session() as session:
        assert rotate_all(session, _ring(new, old)) == 3
    only_new = _ring(new)
    with store.session() as session:
        assert [get_secret(session, only_new, n).reveal() for n in ("a", "b")] == ["va", "vb"]  # type: ignore[union-attr]
        assert get_token_cache(session, only_new, "acct") == b"cache"
        with pytest.raises(EncryptionKeyError):
            get_secret(session, _ring(old), "a")
    store.close()


def test_rotate_with_a_missing_key_changes_nothing(tmp_path: Path) -> None:
    old, new, stranger = (remember(new_key(), "fernet-key") for _ in range(3))
    store = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    with store.session() as session:
        put_secret(session, _ring(new), "a", Secret("va"))
        put_secret(session, _ring(old), "b", Secret("vb"))
    with pytest.raises(EncryptionKeyError, match="stored secret 'b'"), store.session() as session:
        rotate_all(session, _ring(stranger, new))
    with store.session() as session:  # rolled back: both still open with their own keys
        assert get_secret(session, _ring(new), "a").reveal() == "va"  # type: ignore[union-attr]
        assert get_secret(session, _ring(old), "b").reveal() == "vb"  # type: ignore[union-attr]
    store.close()
