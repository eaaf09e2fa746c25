"""TLS contexts verify by default; turning checks off is explicit and warned about on every call."""

from __future__ import annotations

import logging
import ssl

import pytest

from mailconduit._tls import client_tls_context


def test_default_context_verifies_chain_and_host() -> None:
    context = client_tls_context(host="mail.example.test")
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_opt_out_is_warned_each_time(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mailconduit.tls"):
        for _ in range(2):
            context = client_tls_context(
                host="mail.example.test", check_server_identity=False, account="support"
            )
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    warnings = [r for r in caplog.records if "checks are OFF" in r.getMessage()]
    assert len(warnings) == 2
    assert "'support'" in warnings[0].getMessage() and "mail.example.test" in warnings[0].getMessage()


def test_missing_ca_file_is_an_error(tmp_path: object) -> None:
    with pytest.raises(FileNotFoundError):
        client_tls_context(host="h", ca_file="/nonexistent/ca.pem")
