"""Typed registries that the ``register_*`` hooks fill, one per kind of thing a plugin can provide.

A registry refuses a second registration of a name and names both plugins; a failed lookup lists
what is available. Nothing is renamed or dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from attrs import define, field, frozen

from mailconduit._errors import DuplicateNameError, NotRegisteredError

__all__ = ["Registration", "Registry"]

T = TypeVar("T")


@frozen(kw_only=True)
class Registration(Generic[T]):
    """One registered thing: its name, the factory that builds it, its settings class and its plugin.

    Attributes:
        name: the name the YAML uses (``smtp``, ``password``, ``store``).
        factory: what the plugin registered (a class or a callable building the thing).
        settings: the attrs class for this thing's YAML settings, if it has any.
        plugin: the name of the plugin that registered it.
        extra: additional facts a registry records (a command's import path, a section's scope).
    """

    name: str
    factory: T
    settings: type | None
    plugin: str
    extra: dict[str, Any] = field(factory=dict)


@define
class Registry(Generic[T]):
    """Registrations of one kind (``send transport``, ``authenticator`` ...), keyed by name."""

    kind: str
    _items: dict[str, Registration[T]] = field(factory=dict, alias="items")

    def add(self, registration: Registration[T]) -> None:
        """Add a registration; a name taken by another plugin raises ``DuplicateNameError``."""
        existing = self._items.get(registration.name)
        if existing is not None:
            raise DuplicateNameError(
                f"{self.kind} {registration.name!r} is registered twice: by plugin {existing.plugin!r} "
                f"and by plugin {registration.plugin!r}; uninstall or disable one of them "
                f"(MAILCONDUIT_DISABLE_PLUGINS={registration.plugin})"
            )
        self._items[registration.name] = registration

    def get(self, name: str) -> Registration[T]:
        """Return the registration for ``name``, or raise ``NotRegisteredError`` listing the others."""
        try:
            return self._items[name]
        except KeyError:
            available = ", ".join(sorted(self._items)) or "none"
            raise NotRegisteredError(f"unknown {self.kind} {name!r}; available: {available}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Registration[T]]:
        return iter(sorted(self._items.values(), key=lambda r: r.name))

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def binder(self, plugin: str, make: Callable[..., Registration[T]]) -> Callable[..., None]:
        """Return a ``register(...)`` callable for ``plugin`` that builds registrations with ``make``."""

        def register(*args: Any, **kwargs: Any) -> None:
            self.add(make(plugin, *args, **kwargs))

        return register
