"""SMTP settings: default ports by TLS mode and the default EHLO name."""

from __future__ import annotations

import pytest

from mailconduit import TlsMode
from mailconduit_smtp import DEFAULT_PORTS, SmtpSettings
from mailconduit_smtp._settings import default_ehlo_name, effective_port


@pytest.mark.parametrize(("tls", "port"), [(TlsMode.NONE, 25), (TlsMode.STARTTLS, 587), (TlsMode.TLS, 465)])
def test_default_port_follows_tls_mode(tls: TlsMode, port: int) -> None:
    settings = SmtpSettings(protocol="smtp", host="mail.example.test", tls=tls)
    assert effective_port(settings) == port == DEFAULT_PORTS[tls]


def test_configured_port_wins() -> None:
    assert effective_port(SmtpSettings(protocol="smtp", host="h", tls=TlsMode.TLS, port=2465)) == 2465


def test_default_tls_is_implicit_tls_and_verified() -> None:
    settings = SmtpSettings(protocol="smtp", host="h")
    assert settings.tls is TlsMode.TLS and settings.check_server_identity is True
    assert settings.timeout.total_seconds() == 20


def test_default_ehlo_name_is_a_plain_host_name_or_none() -> None:
    name = default_ehlo_name()
    assert name is None or ("." in name and " " not in name and name.isascii())
