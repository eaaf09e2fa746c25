"""The plugin registers the ``pop3`` receive transport, given directly and through its entry point."""

from __future__ import annotations

import subprocess
import sys

from mailconduit import ReceiveTransport, load_plugins
from mailconduit_pop3 import Pop3Settings, Pop3Transport, plugin


def test_registers_pop3_with_its_settings() -> None:
    plugins = load_plugins(extra=[("pop3", plugin)], autoload=False, builtins=False)
    registration = plugins.registries.receive_transports.get("pop3")
    assert registration.factory is Pop3Transport and registration.settings is Pop3Settings
    assert isinstance(plugins.receive_transport("pop3"), ReceiveTransport)
    assert "pop3" not in plugins.registries.send_transports


def test_found_through_the_entry_point_when_installed() -> None:
    plugins = load_plugins()
    assert plugins.failures == []
    assert plugins.registries.receive_transports.get("pop3").factory is Pop3Transport


def test_loading_the_plugin_imports_no_client_code() -> None:
    heavy = ("poplib", "mailconduit_pop3._client", "mailconduit_pop3._mailbox")
    code = f"import sys, mailconduit_pop3.plugin; print([m for m in sys.modules if m.startswith({heavy!r})])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
