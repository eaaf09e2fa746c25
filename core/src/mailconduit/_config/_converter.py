"""The one cattrs converter per ``PluginSet``: strict hooks plus the tagged unions the plugins define.

``auth.method`` picks the registered authenticator's settings class, ``send.protocol`` and
``receive.protocol`` the transport's, an ``oauth_providers`` entry's ``type`` the provider's, and
any other key under an account names a plugin's section. A name no plugin registered says which
distribution provides it (or that its plugin failed to load), else lists what is available.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError

from mailconduit._addresses import parse_address
from mailconduit._config._errors import Problem, at_attribute, describe_value, unknown_key
from mailconduit._config._hooks import install_strict_hooks
from mailconduit._config._schema import PipelineStep
from mailconduit._config._structure import build_attrs, structure_attrs, structure_fields
from mailconduit._errors import AddressError
from mailconduit._model import Account, AuthSettings, OAuthProviderSettings, ReceiveSettings, SendSettings
from mailconduit._plugins import KNOWN_PLUGINS, PluginSet
from mailconduit._registry import Registry

__all__ = ["ConfigConverter", "converter_for", "unknown_name"]

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_ACCOUNT_KEYS = sorted(f.name for f in attrs.fields(Account) if f.name not in ("name", "sections"))


def unknown_name(plugins: PluginSet, what: str, name: str, registry: Registry[Any]) -> str:
    """The message for a ``name`` nobody registered: which distribution to install, or what exists."""
    if name in KNOWN_PLUGINS:
        text = str(plugins.missing(what, name, where="@"))
        return text.removeprefix("@: ")
    available = ", ".join(registry.names()) or "none"
    message = f"unknown {what} {name!r}; available: {available}"
    if plugins.failures:
        failed = ", ".join(f.plugin for f in plugins.failures)
        message += f" (plugins that failed to load: {failed}; see `mailconduit plugins`)"
    return message


def check_addr_spec(value: Any) -> None:
    """Refuse anything but a bare ``local@domain`` (no display name, no angle brackets)."""
    if value is None:
        return
    try:
        address = parse_address(value, field="@")
    except AddressError as exc:
        raise Problem(str(exc).removeprefix("@: ")) from None
    if address.display_name or address.addr_spec != value.strip():
        raise Problem(
            f"expected a bare address like support@example.com, got {describe_value(value)} "
            "(put the name in display_name:)"
        )


class ConfigConverter:
    """A cattrs converter with the strict hooks and the tagged unions of one plugin set.

    Attributes:
        converter: the ``cattrs.Converter`` (``forbid_extra_keys=True``).
    """

    def __init__(self, plugins: PluginSet) -> None:
        self._plugins = weakref.ref(plugins)  # the cache below must not keep the plugin set alive
        self.converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        install_strict_hooks(self.converter)
        registries = plugins.registries
        self._tagged(AuthSettings, "method", "auth method", registries.authenticators)
        self._tagged(SendSettings, "protocol", "send protocol", registries.send_transports)
        self._tagged(ReceiveSettings, "protocol", "receive protocol", registries.receive_transports)
        self._tagged(OAuthProviderSettings, "type", "oauth provider type", registries.oauth_providers)
        self.converter.register_structure_hook_func(lambda t: t is PipelineStep, self._step)

    @property
    def plugins(self) -> PluginSet:
        """The plugin set this converter was built for."""
        plugins = self._plugins()
        if plugins is None:
            raise RuntimeError("the plugin set of this converter is gone; build one with converter_for()")
        return plugins

    def structure(self, value: Any, type_: Any) -> Any:
        """Structure ``value`` as ``type_``; problems raise with notes for ``transform_error``."""
        return self.converter.structure(value, type_)

    # ------------------------------------------------------------------------- tagged unions
    def _tagged(self, base: type, tag: str, what: str, registry: Registry[Any]) -> None:
        def hook(value: Any, _cl: Any) -> Any:
            if not isinstance(value, dict):
                raise Problem(
                    f"expected a mapping with {tag}: one of {', '.join(registry.names()) or 'none'}, "
                    f"got {describe_value(value)}"
                )
            errors: list[Exception] = []
            value = self._protocol_rules(base, value, errors)
            name = value.get(tag)
            if name is None:
                available = ", ".join(registry.names()) or "none"
                errors.append(Problem(f"is required (missing); one of: {available}", at=(tag,)))
            elif not isinstance(name, str):
                errors.append(Problem(f"expected text, got {describe_value(name)}", at=(tag,)))
            elif name not in registry:
                errors.append(Problem(self._unknown_tag(base, what, name, registry), at=(tag,)))
            else:
                settings = registry.get(name).settings or base
                try:
                    return self._finish(structure_attrs(self.converter, settings, value), errors, base)
                except Exception as exc:
                    errors.append(exc)
            raise ClassValidationError(f"While structuring {base.__name__}", errors, base)

        self.converter.register_structure_hook_func(lambda t: t is base, hook)

    @staticmethod
    def _finish(result: Any, errors: list[Exception], base: type) -> Any:
        if errors:
            raise ClassValidationError(f"While structuring {base.__name__}", errors, base)
        return result

    def _unknown_tag(self, base: type, what: str, name: str, registry: Registry[Any]) -> str:
        other = {
            SendSettings: ("receive", self.plugins.registries.receive_transports),
            ReceiveSettings: ("send", self.plugins.registries.send_transports),
        }.get(base)
        if other is not None and name in other[1]:
            return (
                f"{name!r} is a {other[0]} protocol, not a {what}; available: {', '.join(registry.names())}"
            )
        return unknown_name(self.plugins, what, name, registry)

    @staticmethod
    def _protocol_rules(base: type, value: dict[Any, Any], errors: list[Exception]) -> dict[Any, Any]:
        """Rules that hold whichever plugin provides the protocol: POP3 has no folders."""
        if base is ReceiveSettings and value.get("protocol") == "pop3" and value.get("folder") is not None:
            errors.append(
                Problem("must stay unset for pop3: POP3 reads the inbox only; remove folder:", at=("folder",))
            )
            return {k: v for k, v in value.items() if k != "folder"}
        return value

    # ------------------------------------------------------------------------------- accounts
    def account(self, name: str, value: Any) -> Account:
        """Structure the account ``name``; keys other than Account's are plugin sections."""
        sections: dict[str, Any] = {}
        registry = self.plugins.registries.sections

        def section(key: str, raw: Any) -> None:
            if key not in registry:
                if key in KNOWN_PLUGINS:
                    raise Problem(unknown_name(self.plugins, "section", key, registry))
                extra = f"; plugin sections: {', '.join(registry.names())}" if len(registry) else ""
                raise unknown_key(key, _ACCOUNT_KEYS, extra)
            settings = registry.get(key).settings
            sections[key] = (
                structure_attrs(self.converter, settings, raw)
                if settings is not None and attrs.has(settings)
                else self.converter.structure(raw, settings or Any)
            )

        kwargs, errors = structure_fields(
            self.converter,
            Account,
            value,
            given={"name": name},
            exclude=("sections",),
            checks={"email": check_addr_spec, "shared_mailbox": check_addr_spec},
            extra=section,
        )
        if errors:
            raise ClassValidationError("While structuring Account", errors, Account)
        account: Account = build_attrs(Account, {**kwargs, "sections": sections})
        return account

    # ------------------------------------------------------------------------------ pipelines
    def _step(self, value: Any, _cl: Any) -> PipelineStep:
        if isinstance(value, str):
            name, raw, given = value, None, False
        elif isinstance(value, dict) and len(value) == 1:
            ((name, raw),) = value.items()
            given = True
            if not isinstance(name, str):
                raise Problem(f"a step's name must be text, got {describe_value(name)}")
        else:
            raise Problem(
                "expected a step name (- store) or a one-key mapping (- webhook: {url: ...}), "
                f"got {describe_value(value)}"
            )
        registry = self.plugins.registries.actions
        if name not in registry:
            raise Problem(unknown_name(self.plugins, "pipeline action", name, registry))
        settings_class = registry.get(name).settings
        if settings_class is None:
            if given and raw not in (None, {}):
                raise Problem(f"pipeline action {name!r} takes no settings; write - {name}", at=(name,))
            return PipelineStep(name=name)
        try:
            settings: Any = self.converter.structure({} if raw is None else raw, settings_class)
        except Exception as exc:
            raise ClassValidationError(
                "While structuring a step", [at_attribute(exc, name)], PipelineStep
            ) from None
        return PipelineStep(name=name, settings=settings)


_CACHE: dict[int, tuple[weakref.ref[PluginSet], ConfigConverter]] = {}


def converter_for(plugins: PluginSet) -> ConfigConverter:
    """The converter of ``plugins``, built on first use and kept as long as the plugin set lives."""
    entry = _CACHE.get(id(plugins))
    if entry is not None and entry[0]() is plugins:
        return entry[1]
    converter = ConfigConverter(plugins)
    key = id(plugins)
    _CACHE[key] = (weakref.ref(plugins, _forget(key)), converter)
    return converter


def _forget(key: int) -> Callable[[Any], None]:
    def forget(_ref: Any) -> None:
        _CACHE.pop(key, None)

    return forget
