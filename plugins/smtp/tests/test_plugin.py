"""The plugin registers the ``smtp`` send transport, both when given directly and through its entry point."""

from __future__ import annotations

import subprocess
import sys

from mailconduit import SendTransport, load_plugins
from mailconduit_smtp import SmtpSettings, SmtpTransport, plugin


def test_registers_smtp_with_its_settings() -> None:
    plugins = load_plugins(extra=[("smtp", plugin)], autoload=False, builtins=False)
    registration = plugins.registries.send_transports.get("smtp")
    assert registration.factory is SmtpTransport and registration.settings is SmtpSettings
    assert isinstance(plugins.send_transport("smtp"), SendTransport)
    assert "smtp" not in plugins.registries.receive_transports


def test_found_through_the_entry_point_when_installed() -> None:
    plugins = load_plugins()
    assert plugins.failures == []
    assert plugins.registries.send_transports.get("smtp").factory is SmtpTransport


def test_loading_the_plugin_does_not_import_smtplib() -> None:
    code = "import sys, mailconduit_smtp.plugin; print('smtplib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
