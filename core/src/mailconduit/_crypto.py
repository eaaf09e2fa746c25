"""Secrets at rest: Fernet keys from the environment, the config or a key file, and a MultiFernet keyring.

Where the keys come from, first match wins:

1. the config's ``secret_key`` (a :class:`Secret`, often ``${env:MAILCONDUIT_KEY}``);
2. ``MAILCONDUIT_KEY``: one key, or several comma-separated, newest first;
3. ``MAILCONDUIT_KEY_FILE``: a file holding the same (commas or newlines), which must not be
   readable by group or others (mode 0600 or 0400).

Rotation (RELIABILITY.md K2): put a new key first and keep the old ones after it; everything is
encrypted with the newest and decrypted with any; ``mailconduit key rotate`` re-encrypts what is
stored, after which the old keys can go. There is no plaintext fallback: a missing, malformed or
wrong key is an :class:`EncryptionKeyError`, and no key ever appears in a message.

``cryptography`` is imported inside the functions, so the CLI starts without it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mailconduit._errors import EncryptionKeyError
from mailconduit._secret import Secret

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = ["KEY_ENV", "KEY_FILE_ENV", "Keyring", "load_keyring", "new_key"]

KEY_ENV = "MAILCONDUIT_KEY"
KEY_FILE_ENV = "MAILCONDUIT_KEY_FILE"
NO_KEY = f"no key: set {KEY_ENV} (make one with `mailconduit key new`)"


def new_key() -> str:
    """Return a new random Fernet key (url-safe base64 of 32 bytes)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


class Keyring:
    """One or more Fernet keys, newest first: encrypts with the newest, decrypts with any.

    Args:
        keys: the keys, newest first.
        source: where they came from (``MAILCONDUIT_KEY``, ``key file /etc/...``), for messages.

    Raises:
        EncryptionKeyError: no key, or a key that is not a Fernet key (named by its position).
    """

    __slots__ = ("_fernet", "count", "source")

    def __init__(self, keys: Sequence[Secret], source: str) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        if not keys:
            raise EncryptionKeyError(f"{NO_KEY} ({source} holds no key)")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.reveal().encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise EncryptionKeyError(
                    f"{source}: key {position} of {len(keys)} is not a Fernet key (32 url-safe "
                    "base64-encoded bytes); make one with `mailconduit key new`"
                ) from None
        self._fernet: MultiFernet = MultiFernet(fernets)
        self.count = len(fernets)
        self.source = source

    def __repr__(self) -> str:
        return f"Keyring({self.count} key{'s' if self.count != 1 else ''} from {self.source})"

    def encrypt(self, data: bytes) -> str:
        """Encrypt ``data`` with the newest key; return the Fernet token as text."""
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str, *, what: str) -> bytes:
        """Decrypt a token made with any of the keys.

        Args:
            token: the stored Fernet token.
            what: what it is (``stored secret 'smtp'``), for the error.

        Raises:
            EncryptionKeyError: no configured key opens the token.
        """
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise self._wrong_key(what) from None

    def rotate(self, token: str, *, what: str) -> str:
        """Re-encrypt a token with the newest key (it may have been made with any of them).

        Raises:
            EncryptionKeyError: no configured key opens the token.
        """
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise self._wrong_key(what) from None

    def _wrong_key(self, what: str) -> EncryptionKeyError:
        return EncryptionKeyError(
            f"{what} cannot be decrypted with the configured keys ({self.count} from {self.source}); "
            f"put the key it was encrypted with in {KEY_ENV} (after the newest, comma-separated)"
        )


def load_keyring(secret_key: Secret | None = None, *, environ: Mapping[str, str] | None = None) -> Keyring:
    """Build the keyring from the config's ``secret_key``, else ``MAILCONDUIT_KEY``, else the key file.

    Args:
        secret_key: the config's ``secret_key``, if it sets one.
        environ: the environment to read (default ``os.environ``).

    Raises:
        EncryptionKeyError: no key anywhere, a malformed key, or a key file that others can read.
    """
    env = os.environ if environ is None else environ
    if secret_key is not None and secret_key.reveal().strip():
        where = f"secret_key ({secret_key.source})" if secret_key.source else "secret_key in the config"
        return Keyring(_split(secret_key.reveal(), secret_key.source), where)
    if env.get(KEY_ENV, "").strip():
        return Keyring(_split(env[KEY_ENV], f"env:{KEY_ENV}"), KEY_ENV)
    if env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        return Keyring(_split(_read_key_file(path), f"file:{path}"), f"key file {path}")
    raise EncryptionKeyError(NO_KEY)


def _split(text: str, source: str | None) -> list[Secret]:
    parts = text.replace("\n", ",").split(",")
    return [Secret(part.strip(), source=source) for part in parts if part.strip()]


def _read_key_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise EncryptionKeyError(
            f"key file {path} ({KEY_FILE_ENV}) cannot be read: {exc.strerror}; "
            "make one with `mailconduit key new > FILE && chmod 600 FILE`"
        ) from None
    if not stat.S_ISREG(mode):
        raise EncryptionKeyError(f"key file {path} ({KEY_FILE_ENV}) is not a regular file")
    if mode & 0o077:
        raise EncryptionKeyError(
            f"key file {path} ({KEY_FILE_ENV}) has mode {stat.S_IMODE(mode):04o}, so group or others "
            f"can read it; refused: run `chmod 600 {path}`"
        )
    try:
        return path.read_text(encoding="ascii")
    except OSError as exc:
        raise EncryptionKeyError(f"key file {path} ({KEY_FILE_ENV}) cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise EncryptionKeyError(
            f"key file {path} ({KEY_FILE_ENV}) holds non-ASCII bytes; Fernet keys are ASCII: "
            "make one with `mailconduit key new`"
        ) from None
