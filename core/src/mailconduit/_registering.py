"""The typed ``register`` callables handed to the ``register_*`` hooks, one Protocol per hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

from mailconduit._model import AuthSettings, ReceiveSettings, SendSettings
from mailconduit._protocols import Action, Authenticator, ReceiveTransport, SendTransport, TemplateEngine

__all__ = [
    "RegisterAction",
    "RegisterAuthenticator",
    "RegisterCommand",
    "RegisterSection",
    "RegisterTemplateEngine",
    "RegisterTransport",
    "SectionScope",
]

SectionScope = Literal["account", "oauth_provider"]


class RegisterTransport(Protocol):
    """``register(name, factory, *, settings)`` inside ``register_transports``.

    ``settings`` decides the direction: a ``SendSettings`` subclass registers a send transport, a
    ``ReceiveSettings`` subclass a receive transport. A transport that does both registers twice.
    """

    def __call__(
        self,
        name: str,
        factory: Callable[[], SendTransport | ReceiveTransport],
        *,
        settings: type[SendSettings] | type[ReceiveSettings],
    ) -> None:
        """Register transport ``name`` (the ``protocol:`` value in the YAML)."""
        ...


class RegisterAuthenticator(Protocol):
    """``register(name, factory, *, settings)`` inside ``register_authenticators``."""

    def __call__(
        self, name: str, factory: Callable[[], Authenticator], *, settings: type[AuthSettings]
    ) -> None:
        """Register authenticator ``name`` (the ``auth.method`` value) with its ``auth:`` settings class."""
        ...


class RegisterSection(Protocol):
    """``register(name, settings, *, scope)`` inside ``register_config_sections``."""

    def __call__(self, name: str, settings: type, *, scope: SectionScope = "account") -> None:
        """Register a YAML section this plugin owns.

        ``scope="account"``: a per-account section (``accounts.X.smime``).
        ``scope="oauth_provider"``: a variant of ``oauth_providers`` entries chosen by ``type: name``;
        ``settings`` must subclass ``OAuthProviderSettings``.
        """
        ...


class RegisterAction(Protocol):
    """``register(name, factory, *, settings=None)`` inside ``register_actions``."""

    def __call__(self, name: str, factory: Callable[..., Action], *, settings: type | None = None) -> None:
        """Register pipeline step ``name``; ``factory(settings)`` (or ``factory()``) builds the action."""
        ...


class RegisterTemplateEngine(Protocol):
    """``register(name, factory)`` inside ``register_template_engines``."""

    def __call__(self, name: str, factory: Callable[[], TemplateEngine]) -> None:
        """Register template engine ``name`` (a template's ``engine:`` value)."""
        ...


class RegisterCommand(Protocol):
    """``register(name, target, *, help)`` inside ``register_commands``."""

    def __call__(self, name: str, target: str, *, help: str) -> None:
        """Register CLI subcommand ``name``; ``target`` is ``"module:attribute"`` of a click command.

        The module is imported only when the subcommand runs, so ``mailconduit --help`` stays fast.
        """
        ...


def describe(factory: Any) -> str:
    """A short name for a registered factory, for listings: ``module.Qualname``."""
    module = getattr(factory, "__module__", "?")
    qualname = getattr(factory, "__qualname__", type(factory).__qualname__)
    return f"{module}.{qualname}"
