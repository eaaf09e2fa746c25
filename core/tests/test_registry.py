"""Registries: a duplicate name names both plugins, a miss lists what is available, nothing is renamed."""

from __future__ import annotations

import pytest

from mailconduit import DuplicateNameError, NotRegisteredError
from mailconduit._registry import Registration, Registry


def reg(name: str, plugin: str, factory: object = object) -> Registration[object]:
    return Registration(name=name, factory=factory, settings=None, plugin=plugin)


def test_get_returns_what_was_added() -> None:
    registry: Registry[object] = Registry("pipeline action")
    registration = reg("store", "builtin:actions")
    registry.add(registration)
    assert registry.get("store") is registration
    assert "store" in registry
    assert "webhook" not in registry
    assert len(registry) == 1


def test_duplicate_name_is_an_error_naming_both_plugins_and_keeps_the_first() -> None:
    registry: Registry[object] = Registry("send transport")
    registry.add(reg("smtp", "smtp", factory=int))
    with pytest.raises(DuplicateNameError) as caught:
        registry.add(reg("smtp", "fancy_smtp", factory=str))
    message = str(caught.value)
    assert "send transport 'smtp'" in message
    assert "'smtp'" in message and "'fancy_smtp'" in message
    assert "MAILCONDUIT_DISABLE_PLUGINS=fancy_smtp" in message  # says what to do
    assert registry.get("smtp").factory is int  # nothing replaced silently
    assert registry.names() == ["smtp"]  # nothing renamed (no smtp_1)


def test_a_miss_lists_what_is_available() -> None:
    registry: Registry[object] = Registry("auth method")
    registry.add(reg("password", "builtin:password"))
    registry.add(reg("entra_oauth", "entra_oauth"))
    with pytest.raises(
        NotRegisteredError, match=r"unknown auth method 'kerberos'; available: entra_oauth, password"
    ):
        registry.get("kerberos")
    with pytest.raises(LookupError):  # callers may catch the builtin
        registry.get("kerberos")


def test_a_miss_in_an_empty_registry_says_none() -> None:
    with pytest.raises(NotRegisteredError, match="available: none"):
        Registry[object]("template engine").get("jinja2")


def test_iteration_and_names_are_sorted() -> None:
    registry: Registry[object] = Registry("command")
    for name in ["plugins", "db", "key"]:
        registry.add(reg(name, "core"))
    assert registry.names() == ["db", "key", "plugins"]
    assert [r.name for r in registry] == ["db", "key", "plugins"]


def test_binder_registers_for_its_plugin() -> None:
    registry: Registry[object] = Registry("pipeline action")

    def make(plugin: str, name: str, factory: object) -> Registration[object]:
        return reg(name, plugin, factory)

    register = registry.binder("webhooks", make)
    register("webhook", dict)
    assert registry.get("webhook").plugin == "webhooks"
    assert registry.get("webhook").factory is dict
    with pytest.raises(DuplicateNameError, match=r"'webhooks'.*'other'"):
        registry.binder("other", make)("webhook", list)
