"""Encrypted secrets and per-account token caches: Fernet tokens in, plaintext only in memory.

Every value is encrypted with the keyring's newest key before it reaches the session and decrypted
after it leaves it, so the database (and its WAL, backups and dumps) holds only Fernet tokens
(RELIABILITY.md K2). :func:`rotate_all` re-encrypts everything with the newest key.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailconduit._crypto import Keyring
from mailconduit._secret import Secret
from mailconduit._store._columns import utcnow
from mailconduit._store._models import SecretRow, TokenCache

__all__ = ["get_secret", "get_token_cache", "put_secret", "put_token_cache", "rotate_all"]


def put_secret(session: Session, keyring: Keyring, name: str, value: Secret) -> None:
    """Store ``value`` under ``name``, encrypted; replaces an existing secret of that name."""
    token = keyring.encrypt(value.reveal().encode("utf-8"))
    row = session.scalars(select(SecretRow).where(SecretRow.name == name)).first()
    if row is None:
        session.add(SecretRow(name=name, token=token))
    else:
        row.token = token
        row.updated_at = utcnow()
    session.flush()


def get_secret(session: Session, keyring: Keyring, name: str) -> Secret | None:
    """The secret stored under ``name``, or None.

    Raises:
        EncryptionKeyError: none of the configured keys decrypts it.
    """
    token = session.scalars(select(SecretRow.token).where(SecretRow.name == name)).first()
    if token is None:
        return None
    plain = keyring.decrypt(token, what=f"stored secret {name!r}")
    return Secret(plain.decode("utf-8"), source=f"store:{name}")


def put_token_cache(session: Session, keyring: Keyring, account: str, data: bytes) -> None:
    """Store an account's serialized token cache, encrypted; replaces the previous one."""
    token = keyring.encrypt(data)
    row = session.get(TokenCache, account)
    if row is None:
        session.add(TokenCache(account=account, token=token))
    else:
        row.token = token
        row.updated_at = utcnow()
    session.flush()


def get_token_cache(session: Session, keyring: Keyring, account: str) -> bytes | None:
    """An account's token cache, decrypted, or None when it has none.

    Raises:
        EncryptionKeyError: none of the configured keys decrypts it.
    """
    row = session.get(TokenCache, account)
    if row is None:
        return None
    return keyring.decrypt(row.token, what=f"token cache of account {account!r}")


def rotate_all(session: Session, keyring: Keyring) -> int:
    """Re-encrypt every stored secret and token cache with the keyring's newest key.

    Returns:
        How many values were re-encrypted.

    Raises:
        EncryptionKeyError: a value none of the keys decrypts (nothing is changed: the caller's
            transaction rolls back).
    """
    count = 0
    for secret in session.scalars(select(SecretRow)):
        secret.token = keyring.rotate(secret.token, what=f"stored secret {secret.name!r}")
        count += 1
    for cache in session.scalars(select(TokenCache)):
        cache.token = keyring.rotate(cache.token, what=f"token cache of account {cache.account!r}")
        count += 1
    session.flush()
    return count
