"""Plugin discovery and loading: a new ``PluginSet`` (manager, registries, failures) on every load.

Installed plugins are found through the ``mailconduit.plugins`` entry point group with stevedore;
built-ins sit in ``BUILTIN_PLUGINS`` and register through the same hooks. A plugin that fails to
import or has a misspelt hook is collected as a ``LoadFailure``, shown by ``mailconduit plugins``, and
becomes an error only where the configuration needs it. Nothing registers at import time and there
is no module-level manager.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

import pluggy
from attrs import define, field, frozen

from mailconduit import hookspecs
from mailconduit._auth_context import AuthContext, StoreAuthContext
from mailconduit._errors import PluginLoadError, PluginMissingError
from mailconduit._message import Address
from mailconduit._model import Account, AuthSettings, OAuthProviderSettings, ReceiveSettings, SendSettings
from mailconduit._protocols import Action, Authenticator, ReceiveTransport, SendTransport, TemplateEngine
from mailconduit._registry import Registration, Registry
from mailconduit._types import Certificate, Direction, RunInfo, RunResult, StoredBatch

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "KNOWN_PLUGINS",
    "Hooks",
    "LoadFailure",
    "PluginInfo",
    "PluginSet",
    "load_plugins",
]

ENTRY_POINT_GROUP = "mailconduit.plugins"
DISABLE_ENV = "MAILCONDUIT_DISABLE_PLUGINS"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "mailconduit._builtins.password",
    "mailconduit._builtins.jinja",
    "mailconduit._builtins.actions",
    "mailconduit._builtins.memory",
    "mailconduit._builtins.received_certificates",
)
"""Built-in plugin modules; a module with a ``plugin()`` factory has a fresh instance of it registered
per plugin set instead (state of one set, such as the store a certificate source reads)."""

RECEIVED_CERTIFICATES = "builtin:received_certificates"
"""The name of the built-in ``received`` certificate source in every plugin set."""

# Which distribution provides which name, so a config that needs a missing plugin says what to install.
KNOWN_PLUGINS: Mapping[str, tuple[str, str]] = {
    # name used in the YAML -> (plugin name, distribution)
    "smtp": ("smtp", "mailconduit-smtp"),
    "imap": ("imap", "mailconduit-imap"),
    "pop3": ("pop3", "mailconduit-pop3"),
    "entra_oauth": ("entra_oauth", "mailconduit-entra-oauth"),
    "entra": ("entra_oauth", "mailconduit-entra-oauth"),
    "smime": ("smime", "mailconduit-smime"),
    "ldap": ("ldap_certs", "mailconduit-ldap-certs"),
}


@frozen(kw_only=True)
class LoadFailure:
    """A plugin that could not be loaded: its name, distribution, the error and the traceback."""

    plugin: str
    distribution: str | None
    error: str
    traceback: str = field(repr=False)

    def describe(self) -> str:
        """One line for humans, with how to see the full traceback."""
        dist = f" ({self.distribution})" if self.distribution else ""
        return f"plugin {self.plugin!r}{dist} failed to load: {self.error} (see `mailconduit plugins -v`)"


@frozen(kw_only=True)
class PluginInfo:
    """A loaded plugin: name, where it comes from, which hooks it implements."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    builtin: bool
    hooks: tuple[str, ...]


@define(kw_only=True)
class Registries:
    """Every registry the ``register_*`` hooks fill."""

    send_transports: Registry[Any] = field(factory=lambda: Registry("send transport"))
    receive_transports: Registry[Any] = field(factory=lambda: Registry("receive transport"))
    authenticators: Registry[Any] = field(factory=lambda: Registry("auth method"))
    sections: Registry[type] = field(factory=lambda: Registry("account section"))
    oauth_providers: Registry[type] = field(factory=lambda: Registry("oauth provider type"))
    actions: Registry[Any] = field(factory=lambda: Registry("pipeline action"))
    template_engines: Registry[Any] = field(factory=lambda: Registry("template engine"))
    commands: Registry[str] = field(factory=lambda: Registry("command"))

    def all(self) -> list[Registry[Any]]:
        """Every registry, in a fixed order."""
        return [
            self.send_transports,
            self.receive_transports,
            self.authenticators,
            self.sections,
            self.oauth_providers,
            self.actions,
            self.template_engines,
            self.commands,
        ]


class Hooks:
    """The typed facade over ``pm.hook``: the only place in the core that calls hooks.

    Each method forwards its arguments by keyword to the hook of the same name.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        self._hook = pm.hook

    def _per_plugin(self, hook_name: str, register: Callable[[str], Any]) -> None:
        """Call a provider hook plugin by plugin, each with ``register(plugin_name)`` as its ``register``.

        Registration order (oldest first: built-ins, installed, local), so a duplicate's message
        names the earlier plugin first; duplicates are errors anyway.
        """
        caller = getattr(self._hook, hook_name)
        for impl in caller.get_hookimpls():  # pluggy lists oldest first (and calls newest first)
            impl.function(register=register(self._pm.get_name(impl.plugin) or "?"))

    def register_transports(self, register: Callable[[str], Any]) -> None:
        """Call ``register_transports`` per plugin with ``register(plugin_name)``."""
        self._per_plugin("register_transports", register)

    def register_authenticators(self, register: Callable[[str], Any]) -> None:
        """Call ``register_authenticators`` per plugin with ``register(plugin_name)``."""
        self._per_plugin("register_authenticators", register)

    def register_config_sections(self, register: Callable[[str], Any]) -> None:
        """Call ``register_config_sections`` per plugin with ``register(plugin_name)``."""
        self._per_plugin("register_config_sections", register)

    def register_actions(self, register: Callable[[str], Any]) -> None:
        """Call ``register_actions`` per plugin with ``register(plugin_name)``."""
        self._per_plugin("register_actions", register)

    def register_template_engines(self, register: Callable[[str], Any]) -> None:
        """Call ``register_template_engines`` per plugin with ``register(plugin_name)``."""
        self._per_plugin("register_template_engines", register)

    def register_commands(self, register: Callable[[str], Any]) -> None:
        """Call ``register_commands`` per plugin with ``register(plugin_name)``."""
        self._per_plugin("register_commands", register)

    def message_transforms(self, account: Account, *, direction: Direction) -> list[Any]:
        """Every plugin's transforms for ``account`` in ``direction``, sorted by stage (stable).

        A transform with a ``bind_certificates(lookup)`` method gets this set's merged
        :meth:`recipient_certificates` for ``account`` as ``lookup(addresses)``, so it asks the same
        sources (the store-backed ``received`` one included) as the core does.
        """
        collected: list[Any] = []
        for contribution in self._hook.message_transforms(account=account):
            collected.extend(contribution or ())
        chosen = [t for t in collected if t.direction == direction]
        for transform in chosen:
            bind = getattr(transform, "bind_certificates", None)
            if callable(bind):
                bind(lambda addresses, _account=account: self.recipient_certificates(addresses, _account))
        return sorted(chosen, key=lambda t: int(t.stage))

    def recipient_certificates(
        self, addresses: Sequence[Address], account: Account
    ) -> dict[Address, list[Certificate]]:
        """Every source's certificates, merged per address, no source hiding another."""
        merged: dict[Address, list[Certificate]] = {a: [] for a in addresses}
        for answer in self._hook.recipient_certificates(addresses=list(addresses), account=account):
            for address, certificates in (answer or {}).items():
                bucket = merged.setdefault(address, [])
                bucket.extend(c for c in certificates if c not in bucket)
        return merged

    def after_batch_stored(self, batch: StoredBatch, run: RunInfo) -> None:
        """Call ``after_batch_stored``."""
        self._hook.after_batch_stored(batch=batch, run=run)

    def after_run_completed(self, result: RunResult, run: RunInfo) -> None:
        """Call ``after_run_completed``."""
        self._hook.after_run_completed(result=result, run=run)

    def on_run_error(self, error: BaseException, run: RunInfo) -> None:
        """Call ``on_run_error``."""
        self._hook.on_run_error(error=error, run=run)


@define(kw_only=True)
class PluginSet:
    """What one load produced: its own plugin manager, the registries, the plugins and the failures."""

    manager: pluggy.PluginManager
    hooks: Hooks
    registries: Registries
    plugins: list[PluginInfo]
    failures: list[LoadFailure]
    auth_context: AuthContext | None = None
    """An ``AuthContext`` handed to authenticators with a ``bind`` method; set by whoever opens the store."""
    _bound: dict[str, Authenticator] = field(factory=dict, alias="_bound")

    def failure_for(self, plugin: str) -> LoadFailure | None:
        """The load failure of ``plugin``, if it failed."""
        return next((f for f in self.failures if f.plugin == plugin), None)

    def missing(self, what: str, name: str, where: str) -> PluginMissingError:
        """Build the error for a config that names ``name`` (a protocol, method, section) nobody provides."""
        known = KNOWN_PLUGINS.get(name)
        if known is None:
            return PluginMissingError(f"{where}: no installed plugin provides {what} {name!r}")
        plugin, dist = known
        failure = self.failure_for(plugin)
        if failure is not None:
            return PluginMissingError(
                f"{where}: {what} {name!r} needs plugin {plugin!r} ({dist}), which failed to load: "
                f"{failure.error}"
            )
        return PluginMissingError(f"{where}: {what} {name!r} needs {dist}: pip install {dist}")

    def send_transport(self, name: str) -> SendTransport:
        """Build the send transport registered as ``name``."""
        factory: Any = self.registries.send_transports.get(name).factory
        transport: SendTransport = factory()
        return transport

    def receive_transport(self, name: str) -> ReceiveTransport:
        """Build the receive transport registered as ``name``."""
        factory: Any = self.registries.receive_transports.get(name).factory
        transport: ReceiveTransport = factory()
        return transport

    def authenticator(self, name: str) -> Authenticator:
        """Build the authenticator registered as ``name``.

        When this set carries an ``auth_context`` and the authenticator has a ``bind(context)``
        method, it is bound to the context once and the same instance is returned for ``name``
        from then on (it may keep per-account state such as token caches in memory).
        """
        context = self.auth_context
        if context is not None and name in self._bound:
            return self._bound[name]
        factory: Any = self.registries.authenticators.get(name).factory
        authenticator: Authenticator = factory()
        bind = getattr(authenticator, "bind", None)
        if context is not None and callable(bind):
            bind(context)
            authenticator = self._bound.setdefault(name, authenticator)
        return authenticator

    def attach_auth_context(self, context: AuthContext) -> None:
        """Set ``auth_context`` unless one is set already (the first opener of the store wins).

        A context over the store (``StoreAuthContext``) also binds the built-in ``received``
        certificate source to that store, opened when the source is first asked.
        """
        if self.auth_context is None:
            self.auth_context = context
            self._bound.clear()
            source = self.manager.get_plugin(RECEIVED_CERTIFICATES)
            if isinstance(context, StoreAuthContext) and source is not None:
                source.bind(context.store)

    def template_engine(self, name: str) -> TemplateEngine:
        """Build the template engine registered as ``name``."""
        factory: Any = self.registries.template_engines.get(name).factory
        engine: TemplateEngine = factory()
        return engine

    def action(self, name: str, settings: object | None = None) -> Action:
        """Build the pipeline action registered as ``name`` with its settings."""
        registration = self.registries.actions.get(name)
        factory: Any = registration.factory
        action: Action = factory(settings) if registration.settings is not None else factory()
        return action


def _make_transport(registries: Registries) -> Any:
    def make(plugin: str, name: str, factory: Any, *, settings: type | None = None) -> None:
        if isinstance(settings, type) and issubclass(settings, SendSettings):
            target = registries.send_transports
        elif isinstance(settings, type) and issubclass(settings, ReceiveSettings):
            target = registries.receive_transports
        else:
            raise PluginLoadError(
                f"plugin {plugin!r}: transport {name!r} needs settings=<a SendSettings or ReceiveSettings "
                f"subclass>, got {settings!r}"
            )
        target.add(Registration(name=name, factory=factory, settings=settings, plugin=plugin))

    return make


def _make_authenticator(registries: Registries) -> Any:
    def make(plugin: str, name: str, factory: Any, *, settings: type) -> None:
        if not (isinstance(settings, type) and issubclass(settings, AuthSettings)):
            raise PluginLoadError(f"plugin {plugin!r}: auth method {name!r} needs an AuthSettings subclass")
        registries.authenticators.add(
            Registration(name=name, factory=factory, settings=settings, plugin=plugin)
        )

    return make


def _make_section(registries: Registries) -> Any:
    def make(plugin: str, name: str, settings: type, *, scope: str = "account") -> None:
        if scope == "account":
            registries.sections.add(
                Registration(name=name, factory=settings, settings=settings, plugin=plugin)
            )
        elif scope == "oauth_provider":
            if not (isinstance(settings, type) and issubclass(settings, OAuthProviderSettings)):
                raise PluginLoadError(
                    f"plugin {plugin!r}: oauth provider type {name!r} needs an OAuthProviderSettings subclass"
                )
            registries.oauth_providers.add(
                Registration(name=name, factory=settings, settings=settings, plugin=plugin)
            )
        else:
            raise PluginLoadError(f"plugin {plugin!r}: section {name!r} has unknown scope {scope!r}")

    return make


def _simple(registry: Registry[Any]) -> Any:
    def make(plugin: str, name: str, factory: Any, *, settings: type | None = None) -> None:
        registry.add(Registration(name=name, factory=factory, settings=settings, plugin=plugin))

    return make


def _make_command(registries: Registries) -> Any:
    def make(plugin: str, name: str, target: str, *, help: str) -> None:
        if ":" not in target:
            raise PluginLoadError(f"plugin {plugin!r}: command {name!r} target must be 'module:attr'")
        registries.commands.add(
            Registration(name=name, factory=target, settings=None, plugin=plugin, extra={"help": help})
        )

    return make


def _bind(make: Any, plugin: str) -> Any:
    def register(*args: Any, **kwargs: Any) -> None:
        make(plugin, *args, **kwargs)

    return register


def _disabled() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _distribution_of(module_name: str) -> tuple[str | None, str | None]:
    top = module_name.split(".", maxsplit=1)[0]
    dists = importlib.metadata.packages_distributions().get(top)
    if not dists:
        return None, None
    dist = dists[0]
    try:
        return dist, importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return dist, None


def _entry_point_origins() -> dict[str, tuple[str | None, str | None]]:
    """Entry point name -> (distribution, version) for the ``mailconduit.plugins`` group."""
    origins: dict[str, tuple[str | None, str | None]] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        origins[entry_point.name] = (dist.name, dist.version) if dist is not None else (None, None)
    return origins


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    callers = pm.get_hookcallers(plugin) or []
    return tuple(sorted(caller.name for caller in callers))


def _module_name(plugin: object) -> str:
    """The module a plugin is (a module) or was defined in (an instance)."""
    return plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__


def _register_one(
    pm: pluggy.PluginManager,
    name: str,
    module: ModuleType | object,
    *,
    builtin: bool,
    distribution: str | None,
    version: str | None,
    plugins: list[PluginInfo],
    failures: list[LoadFailure],
) -> None:
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except Exception as exc:  # a misspelt or mistyped hook implementation
        if pm.is_registered(module):
            pm.unregister(module)
        failures.append(
            LoadFailure(
                plugin=name,
                distribution=distribution,
                error=f"{type(exc).__name__}: {exc} (in module {_module_name(module)})",
                traceback=traceback.format_exc(),
            )
        )
        return
    plugins.append(
        PluginInfo(
            name=name,
            module=_module_name(module),
            distribution=distribution,
            version=version,
            builtin=builtin,
            hooks=_hooks_of(pm, module),
        )
    )


def _discover_installed(
    pm: pluggy.PluginManager, disabled: set[str], plugins: list[PluginInfo], failures: list[LoadFailure]
) -> None:
    from stevedore import EnabledExtensionManager  # imported on use: not needed for --help

    # stevedore serves entry points from its cache without their distribution; ask importlib for it
    origins = _entry_point_origins()

    def on_failure(_manager: Any, entry_point: Any, exc: BaseException) -> None:
        if entry_point.name in disabled:
            return
        failures.append(
            LoadFailure(
                plugin=entry_point.name,
                distribution=origins.get(entry_point.name, (None, None))[0],
                error=f"{type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(exc)),
            )
        )

    manager = EnabledExtensionManager(
        namespace=ENTRY_POINT_GROUP,
        invoke_on_load=False,
        on_load_failure_callback=on_failure,
        check_func=lambda ext: ext.name not in disabled,
    )
    for extension in sorted(manager.extensions, key=lambda e: e.name):
        module: object = extension.plugin
        if not isinstance(module, ModuleType):
            failures.append(
                LoadFailure(
                    plugin=extension.name,
                    distribution=None,
                    error=f"entry point must name a module, got {type(module).__name__}",
                    traceback="",
                )
            )
            continue
        dist_name, version = origins.get(extension.name, (None, None))
        _register_one(
            pm,
            extension.name,
            module,
            builtin=False,
            distribution=dist_name,
            version=version,
            plugins=plugins,
            failures=failures,
        )


def load_plugins(
    *,
    local: Iterable[str] = (),
    extra: Iterable[tuple[str, object]] = (),
    autoload: bool = True,
    builtins: bool = True,
) -> PluginSet:
    """Load plugins into a new ``PluginSet`` and fill its registries.

    Args:
        local: dotted names of local plugin modules (the YAML's ``plugins:`` list).
        extra: ``(name, plugin object)`` pairs to register directly; tests use this.
        autoload: discover installed plugins through the ``mailconduit.plugins`` entry points.
        builtins: register ``BUILTIN_PLUGINS``.

    Returns:
        The plugin set; plugins that failed are in ``failures`` rather than raised. A duplicate
        registration of a name raises ``DuplicateNameError`` naming both plugins.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    plugins: list[PluginInfo] = []
    failures: list[LoadFailure] = []
    disabled = _disabled()

    if builtins:
        for module_name in BUILTIN_PLUGINS:
            short = module_name.rsplit(".", 1)[1]
            if f"builtin:{short}" in disabled:
                continue
            module = importlib.import_module(module_name)
            factory = getattr(module, "plugin", None)
            _register_one(
                pm,
                f"builtin:{short}",
                factory() if callable(factory) else module,
                builtin=True,
                distribution="mailconduit",
                version=_distribution_of("mailconduit")[1],
                plugins=plugins,
                failures=failures,
            )
    if autoload:
        _discover_installed(pm, disabled, plugins, failures)
    for module_name in local:
        if module_name in disabled:
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            failures.append(
                LoadFailure(
                    plugin=module_name,
                    distribution=None,
                    error=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(),
                )
            )
            continue
        dist, version = _distribution_of(module_name)
        _register_one(
            pm,
            module_name,
            module,
            builtin=False,
            distribution=dist,
            version=version,
            plugins=plugins,
            failures=failures,
        )
    for name, obj in extra:
        if name in disabled:
            continue
        pm.register(obj, name=name)
        pm.check_pending()
        plugins.append(
            PluginInfo(
                name=name,
                module=getattr(obj, "__name__", type(obj).__name__),
                distribution=None,
                version=None,
                builtin=False,
                hooks=_hooks_of(pm, obj),
            )
        )

    registries = Registries()
    hooks = Hooks(pm)
    _call_providers(hooks, registries)
    return PluginSet(manager=pm, hooks=hooks, registries=registries, plugins=plugins, failures=failures)


def _call_providers(hooks: Hooks, registries: Registries) -> None:
    """Fill the registries: each ``register_*`` hook, plugin by plugin, so registrations know their plugin."""

    def binder(make: Any) -> Callable[[str], Any]:
        return lambda plugin: _bind(make, plugin)

    hooks.register_transports(binder(_make_transport(registries)))
    hooks.register_authenticators(binder(_make_authenticator(registries)))
    hooks.register_config_sections(binder(_make_section(registries)))
    hooks.register_actions(binder(_simple(registries.actions)))
    hooks.register_template_engines(binder(_simple(registries.template_engines)))
    hooks.register_commands(binder(_make_command(registries)))
