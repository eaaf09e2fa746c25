"""The ``Secret`` type: a value that is never shown in a repr, str, log line, error or dump."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["REDACTED", "Secret"]

REDACTED: Final = "***"


class Secret:
    """A secret string (password, client secret, token, passphrase) that hides itself.

    ``repr()``, ``str()`` and ``format()`` all give ``***``; the value is only reachable through
    :meth:`reveal`, so it cannot reach a log line or an f-string by accident. Pickling is refused,
    so a secret never lands in a cache or a queue unencrypted.

    Example:
        >>> pw = Secret("hunter2")
        >>> f"password is {pw}"
        'password is ***'
        >>> pw.reveal()
        'hunter2'
    """

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, *, source: str | None = None) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret holds a str, got {type(value).__name__}")
        self._value = value
        self._source = source

    def reveal(self) -> str:
        """Return the secret value; call it only where the value goes on the wire or into a cipher."""
        return self._value

    @property
    def source(self) -> str | None:
        """Where the value came from (``env:NAME``, ``file:PATH``), safe to show; None if given inline."""
        return self._source

    def __repr__(self) -> str:
        return f"Secret({REDACTED})" if self._source is None else f"Secret({REDACTED} from {self._source})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled; encrypt it with the store's key instead")
