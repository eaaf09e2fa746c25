"""``load_plugins``: a new PluginSet per call, built-ins through the hooks, local modules, failures."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailconduit import (
    DuplicateNameError,
    LoadFailure,
    NotRegisteredError,
    PluginLoadError,
    PluginMissingError,
    SendSettings,
    hookimpl,
    load_plugins,
)
from mailconduit._plugins import BUILTIN_PLUGINS

BUILTIN_REGISTRATIONS = {
    "send_transports": {"memory": "builtin:memory"},
    "receive_transports": {"memory": "builtin:memory"},
    "authenticators": {"password": "builtin:password"},
    "actions": {
        name: "builtin:actions"
        for name in ("store", "log", "webhook", "forward", "reply", "move", "flag", "run")
    },
    "template_engines": {"jinja2": "builtin:jinja"},
}


@pytest.fixture(autouse=True)
def no_disabled_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILCONDUIT_DISABLE_PLUGINS", raising=False)


@pytest.fixture
def local_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable package ``mcloc`` in tmp_path, for local plugin modules; forgotten afterwards."""
    package = tmp_path / "mcloc"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [m for m in sys.modules if m == "mcloc" or m.startswith("mcloc.")]:
        del sys.modules[name]


def write_module(package: Path, name: str, code: str) -> str:
    (package / f"{name}.py").write_text(textwrap.dedent(code))
    return f"mcloc.{name}"


ECHO_PLUGIN = """
    from mailconduit import ActionResult, hookimpl

    class Echo:
        def __call__(self, message, context):
            return ActionResult()

    @hookimpl
    def register_actions(register):
        register("echo", Echo)
"""


def test_each_call_gives_a_new_plugin_set(local_package: Path) -> None:
    module = write_module(local_package, "echo", ECHO_PLUGIN)
    first = load_plugins(autoload=False, local=[module])
    second = load_plugins(autoload=False)
    third = load_plugins(autoload=False, local=[module])  # the same plugin again: no duplicate error
    assert first.manager is not second.manager
    assert first.registries is not third.registries
    assert "echo" in first.registries.actions
    assert "echo" not in second.registries.actions
    assert "echo" in third.registries.actions


def test_builtins_register_through_the_hooks() -> None:
    plugins = load_plugins(autoload=False)
    by_name = {p.name: p for p in plugins.plugins}
    assert set(by_name) == {f"builtin:{m.rsplit('.', 1)[1]}" for m in BUILTIN_PLUGINS}
    assert all(p.builtin and p.distribution == "mailconduit" for p in by_name.values())
    assert by_name["builtin:memory"].hooks == ("register_transports",)
    for registry_name, expected in BUILTIN_REGISTRATIONS.items():
        registry = getattr(plugins.registries, registry_name)
        assert {r.name: r.plugin for r in registry} == expected
    assert plugins.failures == []


def test_without_builtins_the_registries_are_empty() -> None:
    plugins = load_plugins(autoload=False, builtins=False)
    assert plugins.plugins == []
    assert all(len(r) == 0 for r in plugins.registries.all())


def test_local_module_is_registered_under_its_dotted_name(local_package: Path) -> None:
    module = write_module(local_package, "echo", ECHO_PLUGIN)
    plugins = load_plugins(autoload=False, local=[module])
    assert plugins.registries.actions.get("echo").plugin == "mcloc.echo"
    info = next(p for p in plugins.plugins if p.name == "mcloc.echo")
    assert info.hooks == ("register_actions",)
    assert info.builtin is False
    assert plugins.action("echo") is not None


def test_broken_local_module_is_a_failure_that_does_not_stop_the_others(local_package: Path) -> None:
    broken = write_module(local_package, "broken", "import mcloc_no_such_dependency\n")
    echo = write_module(local_package, "echo", ECHO_PLUGIN)
    plugins = load_plugins(autoload=False, local=[broken, "mcloc.not_there", echo])
    failures = {f.plugin: f for f in plugins.failures}
    assert set(failures) == {"mcloc.broken", "mcloc.not_there"}
    assert "No module named 'mcloc_no_such_dependency'" in failures["mcloc.broken"].error
    assert "Traceback" in failures["mcloc.broken"].traceback
    assert "'mcloc.broken'" in failures["mcloc.broken"].describe()
    assert "echo" in plugins.registries.actions


def test_misspelt_hook_is_a_failure_naming_the_plugin(local_package: Path) -> None:
    typo = write_module(
        local_package,
        "typo",
        """
        from mailconduit import hookimpl

        @hookimpl
        def register_transport(register):
            pass
        """,
    )
    echo = write_module(local_package, "echo", ECHO_PLUGIN)
    plugins = load_plugins(autoload=False, local=[typo, echo])
    (failure,) = plugins.failures
    assert failure.plugin == "mcloc.typo"
    assert "register_transport" in failure.error
    assert "mcloc.typo" in failure.error
    assert "mcloc.typo" not in [p.name for p in plugins.plugins]
    assert not plugins.manager.has_plugin("mcloc.typo")  # unregistered, so no half-loaded hooks
    assert "echo" in plugins.registries.actions


def test_misspelt_hook_argument_is_a_failure_too(local_package: Path) -> None:
    typo = write_module(
        local_package,
        "badarg",
        """
        from mailconduit import hookimpl

        @hookimpl
        def register_actions(registrar):
            pass
        """,
    )
    (failure,) = load_plugins(autoload=False, local=[typo]).failures
    assert failure.plugin == "mcloc.badarg"
    assert "registrar" in failure.error


class Provides:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def register_actions(self, register: object) -> None:
        for name in self.names:
            register(name, dict)  # type: ignore[operator]


def test_duplicate_names_across_plugins_raise_naming_both() -> None:
    with pytest.raises(DuplicateNameError) as caught:
        load_plugins(
            autoload=False, builtins=False, extra=[("alpha", Provides("x")), ("beta", Provides("x"))]
        )
    assert "'alpha'" in str(caught.value) and "'beta'" in str(caught.value)
    with pytest.raises(DuplicateNameError, match=r"'builtin:actions'.*'mine'"):
        load_plugins(autoload=False, extra=[("mine", Provides("store"))])


def test_a_bad_registration_is_an_error_naming_the_plugin() -> None:
    class WrongSettings:
        @hookimpl
        def register_transports(self, register: object) -> None:
            register("carrier-pigeon", dict, settings=dict)  # type: ignore[operator]

    with pytest.raises(PluginLoadError, match=r"plugin 'pigeons'.*'carrier-pigeon'.*SendSettings"):
        load_plugins(autoload=False, builtins=False, extra=[("pigeons", WrongSettings())])


def test_disable_env_turns_off_builtins_and_local_plugins(
    local_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    echo = write_module(local_package, "echo", ECHO_PLUGIN)
    monkeypatch.setenv("MAILCONDUIT_DISABLE_PLUGINS", "builtin:memory, mcloc.echo ,alpha")
    plugins = load_plugins(autoload=False, local=[echo], extra=[("alpha", Provides("x"))])
    names = {p.name for p in plugins.plugins}
    assert "builtin:memory" not in names
    assert "builtin:password" in names
    assert "memory" not in plugins.registries.send_transports
    assert "echo" not in plugins.registries.actions
    assert "x" not in plugins.registries.actions
    assert plugins.failures == []
    with pytest.raises(NotRegisteredError, match="unknown send transport 'memory'; available: none"):
        plugins.send_transport("memory")


def test_disable_env_resolves_a_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCONDUIT_DISABLE_PLUGINS", "builtin:actions")
    plugins = load_plugins(autoload=False, extra=[("mine", Provides("store"))])
    assert plugins.registries.actions.get("store").plugin == "mine"


def test_missing_names_the_distribution_to_install() -> None:
    plugins = load_plugins(autoload=False)
    error = plugins.missing("protocol", "imap", "accounts.support.receive")
    assert isinstance(error, PluginMissingError)
    assert str(error) == (
        "accounts.support.receive: protocol 'imap' needs mailconduit-imap: pip install mailconduit-imap"
    )
    entra = plugins.missing("oauth provider type", "entra", "oauth_providers.contoso")
    assert "pip install mailconduit-entra-oauth" in str(entra)


def test_missing_quotes_the_load_failure_when_the_plugin_failed() -> None:
    plugins = load_plugins(autoload=False)
    plugins.failures.append(
        LoadFailure(
            plugin="imap",
            distribution="mailconduit-imap",
            error="ModuleNotFoundError: No module named 'imapclient'",
            traceback="",
        )
    )
    message = str(plugins.missing("protocol", "imap", "accounts.support.receive"))
    assert message == (
        "accounts.support.receive: protocol 'imap' needs plugin 'imap' (mailconduit-imap), "
        "which failed to load: ModuleNotFoundError: No module named 'imapclient'"
    )
    assert "pip install" not in message


def test_missing_for_an_unknown_name_says_nobody_provides_it() -> None:
    message = str(load_plugins(autoload=False).missing("protocol", "carrier-pigeon", "accounts.x.send"))
    assert message == "accounts.x.send: no installed plugin provides protocol 'carrier-pigeon'"


def test_plugin_set_builds_what_was_registered() -> None:
    plugins = load_plugins(autoload=False)
    assert type(plugins.template_engine("jinja2")).__name__ == "Jinja2Engine"
    assert type(plugins.authenticator("password")).__name__ == "PasswordAuthenticator"
    assert type(plugins.receive_transport("memory")).__name__ == "MemoryReceiveTransport"
    assert plugins.registries.send_transports.get("memory").settings is not None
    assert issubclass(plugins.registries.send_transports.get("memory").settings, SendSettings)  # type: ignore[arg-type]


def test_action_with_settings_is_built_with_them() -> None:
    class Configured:
        @hookimpl
        def register_actions(self, register: object) -> None:
            register("tag", lambda settings: ("built with", settings), settings=dict)  # type: ignore[operator]

    plugins = load_plugins(autoload=False, builtins=False, extra=[("cfg", Configured())])
    assert plugins.action("tag", {"label": "x"}) == ("built with", {"label": "x"})
