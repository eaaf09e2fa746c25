"""What an authenticator may keep between calls: provider settings, an encrypted cache, a re-auth flag.

Authenticator plugins cannot reach the store; the core hands them an :class:`AuthContext` through
the optional ``bind(context)`` method (``PluginSet.authenticator`` calls it when the plugin set
carries a context, which the outbox, replication and the CLI attach when they open the store)::

    class MyAuthenticator:
        def bind(self, context: AuthContext) -> None:
            self.context = context

        def credentials(self, account, protocol):
            with self.context.lock(account.name):        # one token request at a time per account
                blob = self.context.load_cache(account.name)
                ...
                self.context.save_cache(account.name, new_blob)

:class:`StoreAuthContext` is the implementation over the store: caches go to the ``token_cache``
table and the needs-reauth flags to the ``secrets`` table, both Fernet-encrypted with the keyring
(``secret_key`` / ``MAILCONDUIT_KEY``), which is loaded only when an authenticator first needs it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mailconduit._errors import ConfigError
from mailconduit._model import OAuthProviderSettings
from mailconduit._secret import Secret

if TYPE_CHECKING:
    from mailconduit._config import Config
    from mailconduit._crypto import Keyring
    from mailconduit._store import Store

__all__ = ["AuthContext", "NeedsReauth", "StoreAccountLock", "StoreAuthContext", "account_lock"]

_REAUTH_PREFIX = "auth.needs_reauth:"
_LOCKS: dict[tuple[str, str], threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_STORE_LOCKS: dict[tuple[str, str], StoreAccountLock] = {}


def account_lock(scope: str, account: str) -> threading.RLock:
    """The process-wide re-entrant lock of ``account`` within ``scope`` (a store URL, say).

    Every context over the same store hands out the same lock for an account, so an outbox and a
    replication run in one process still make one token request at a time for it.
    """
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((scope, account), threading.RLock())


class StoreAccountLock(AbstractContextManager["StoreAccountLock"]):
    """One token request at a time for an account: across threads, and on PostgreSQL across processes.

    Holds the process-wide :func:`account_lock`; on PostgreSQL the outermost holder in a process
    also takes a session-level advisory lock (``pg_advisory_lock``, waiting) on a connection of its
    own, so several runners on several machines sharing one store make one token request between
    them: the others wait, then find the new token in the shared cache. Re-entrant like an RLock.
    """

    def __init__(self, store: Store, account: str, thread_lock: threading.RLock) -> None:
        self._store = store
        self._thread_lock = thread_lock
        digest = hashlib.sha256(f"mailconduit.token\0{account}".encode()).digest()
        self._key = int.from_bytes(digest[:8], "big", signed=True)
        self._depth = threading.local()
        self._connection: Any = None

    def __enter__(self) -> StoreAccountLock:
        self._thread_lock.acquire()
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        if depth == 0 and self._store.engine.dialect.name == "postgresql":
            from sqlalchemy import text

            try:
                self._connection = self._store.engine.connect()
                self._connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": self._key})
                self._connection.commit()
            except BaseException:
                self._release()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        self._depth.value -= 1
        try:
            if self._depth.value == 0 and self._connection is not None:
                connection, self._connection = self._connection, None
                connection.close()  # ends the session, and its advisory lock with it
        finally:
            self._thread_lock.release()


class NeedsReauth:
    """Why and since when an account needs a new interactive sign-in.

    Attributes:
        reason: what the authority said (an error code and text, never a token).
        since: when it was recorded (UTC).
    """

    __slots__ = ("reason", "since")

    def __init__(self, reason: str, since: datetime) -> None:
        """Record ``reason`` at ``since``."""
        self.reason = reason
        self.since = since

    def __repr__(self) -> str:
        return f"NeedsReauth({self.reason!r}, since={self.since.isoformat()})"


@runtime_checkable
class AuthContext(Protocol):
    """Persistent, encrypted state and provider settings for authenticators (see the module docs)."""

    def provider(self, name: str) -> OAuthProviderSettings:
        """The ``oauth_providers`` entry ``name``; ``ConfigError`` when there is none."""
        ...

    def load_cache(self, account: str) -> str | None:
        """The account's serialized token cache, decrypted, or None when it has none."""
        ...

    def save_cache(self, account: str, blob: str) -> None:
        """Store the account's serialized token cache, encrypted, replacing the previous one."""
        ...

    def mark_needs_reauth(self, account: str, reason: str) -> None:
        """Record that ``account`` needs a new sign-in (persisted until :meth:`clear_needs_reauth`)."""
        ...

    def clear_needs_reauth(self, account: str) -> None:
        """Forget the needs-reauth mark of ``account`` (after a successful sign-in)."""
        ...

    def needs_reauth(self, account: str) -> NeedsReauth | None:
        """The needs-reauth mark of ``account``, or None when it can get tokens."""
        ...

    def lock(self, account: str) -> AbstractContextManager[object]:
        """The lock to hold while refreshing ``account``'s tokens (one request at a time)."""
        ...


class StoreAuthContext:
    """An :class:`AuthContext` over the store and the config's ``oauth_providers``.

    Args:
        store: the open store, or a callable opening it on first use (the CLI opens it lazily).
        providers: the ``oauth_providers`` by name, or a callable returning them on first use;
            None when no config is at hand (asking for a provider then says to pass ``config=``).
        secret_key: the config's ``secret_key`` (or a callable returning it), tried before
            ``MAILCONDUIT_KEY`` (see ``_crypto``).
        keyring: a keyring to use instead of loading one.
    """

    def __init__(
        self,
        store: Store | Callable[[], Store],
        providers: Mapping[str, OAuthProviderSettings]
        | Callable[[], Mapping[str, OAuthProviderSettings]]
        | None,
        *,
        secret_key: Secret | Callable[[], Secret | None] | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        """Keep what is given; nothing is opened or loaded until first needed."""
        self._store_source = store
        self._providers_source = providers
        self._secret_key = secret_key
        self._keyring = keyring
        self._store: Store | None = None
        self._guard = threading.Lock()

    @classmethod
    def for_config(cls, store: Store, config: Config | None) -> StoreAuthContext:
        """A context over ``store`` with ``config``'s providers and ``secret_key``.

        Without a config no provider is known: an authenticator asking for one gets a
        ``ConfigError`` saying to pass ``config=``.
        """
        if config is None:
            return cls(store, None)
        return cls(store, config.oauth_providers, secret_key=config.secret_key)

    def __repr__(self) -> str:
        where = self._store.url if self._store is not None else "store not opened yet"
        return f"StoreAuthContext({where})"

    def store(self) -> Store:
        """The store, opened on first use (the core's ``received`` certificate source reads it)."""
        return self._open()

    def _open(self) -> Store:
        with self._guard:
            if self._store is None:
                source = self._store_source
                self._store = source() if callable(source) else source
            return self._store

    def _keys(self) -> Keyring:
        with self._guard:
            if self._keyring is None:
                from mailconduit._crypto import load_keyring

                key = self._secret_key
                self._keyring = load_keyring(key() if callable(key) else key)
            return self._keyring

    def provider(self, name: str) -> OAuthProviderSettings:
        """The ``oauth_providers`` entry ``name``.

        Raises:
            ConfigError: no provider of that name is configured (the message lists those that are).
        """
        source = self._providers_source
        if source is None:
            raise ConfigError([(f"oauth_providers.{name}", "is unknown: no config was given; pass config=")])
        providers = source() if callable(source) else source
        try:
            return providers[name]
        except KeyError:
            known = ", ".join(sorted(providers)) or "none"
            raise ConfigError(
                [(f"oauth_providers.{name}", f"is not defined; defined providers: {known}")]
            ) from None

    def load_cache(self, account: str) -> str | None:
        """The account's token cache from the store, decrypted, or None.

        Raises:
            EncryptionKeyError: no key, or none of the keys decrypts it.
        """
        from mailconduit._store._repo_secrets import get_token_cache

        keyring = self._keys()
        with self._open().session(readonly=True) as session:
            data = get_token_cache(session, keyring, account)
        return None if data is None else data.decode("utf-8")

    def save_cache(self, account: str, blob: str) -> None:
        """Store the account's token cache, encrypted with the newest key."""
        from mailconduit._store._repo_secrets import put_token_cache

        keyring = self._keys()
        with self._open().session() as session:
            put_token_cache(session, keyring, account, blob.encode("utf-8"))

    def mark_needs_reauth(self, account: str, reason: str) -> None:
        """Persist the needs-reauth mark of ``account`` with ``reason`` and the current time."""
        from mailconduit._store._repo_secrets import put_secret

        value = json.dumps({"reason": reason, "since": datetime.now(UTC).isoformat()})
        keyring = self._keys()
        with self._open().session() as session:
            put_secret(session, keyring, _REAUTH_PREFIX + account, Secret(value))

    def clear_needs_reauth(self, account: str) -> None:
        """Delete the needs-reauth mark of ``account`` (nothing happens when there is none)."""
        from sqlalchemy import delete

        from mailconduit._store._models import SecretRow

        with self._open().session() as session:
            session.execute(delete(SecretRow).where(SecretRow.name == _REAUTH_PREFIX + account))

    def needs_reauth(self, account: str) -> NeedsReauth | None:
        """The needs-reauth mark of ``account``, or None."""
        from mailconduit._store._repo_secrets import get_secret

        keyring = self._keys()
        with self._open().session(readonly=True) as session:
            value = get_secret(session, keyring, _REAUTH_PREFIX + account)
        if value is None:
            return None
        data = json.loads(value.reveal())
        return NeedsReauth(str(data["reason"]), datetime.fromisoformat(data["since"]))

    def lock(self, account: str) -> AbstractContextManager[object]:
        """The lock of ``account`` in this store: process-wide, and across processes on PostgreSQL."""
        store = self._open()
        thread_lock = account_lock(store.url, account)
        with _LOCKS_GUARD:
            held = _STORE_LOCKS.get((store.url, account))
            if held is None:
                held = _STORE_LOCKS[(store.url, account)] = StoreAccountLock(store, account, thread_lock)
            return held
