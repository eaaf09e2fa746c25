"""Login methods on the wire (fake server): XOAUTH2 and OAUTHBEARER payloads, a refused token without the
token in the error, LOGIN never tried under LOGINDISABLED; and the plugin's registration."""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import pytest

from mailconduit import AuthenticationError, Credentials, ReceiveTransport, Secret, TlsMode, load_plugins
from mailconduit.testing import Expect, ScriptedConnection, Send, canary
from mailconduit_imap import ImapSettings, ImapTransport, plugin

from .conftest import MakeAccount
from .fakeimap import LOGOUT, capability

GREETING = Send(b"* OK fake\r\n")


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_bearer_login_sends_the_sasl_payload(
    mechanism: str, scripted_server: Any, make_account: MakeAccount
) -> None:
    token = canary("access-token")
    caps = b"IMAP4rev1 AUTH=" + mechanism.encode()

    def script(conn: ScriptedConnection) -> None:
        for step in [GREETING, *capability(caps), Expect(b"AUTHENTICATE " + mechanism.encode())]:
            conn.run_step(step)
        tag = conn.tag
        conn.send(b"+ \r\n")
        conn.read_line()
        conn.send(tag + b" OK welcome\r\n")
        for step in [*capability(caps), *LOGOUT]:
            conn.run_step(step)

    server = scripted_server(script)
    credentials = Credentials(
        kind="bearer", username="app", secret=Secret(token), authzid="shared@example.test"
    )
    mailbox = ImapTransport().open(make_account(server.port, TlsMode.NONE), credentials)
    mailbox.close()
    server.wait_for_connections(1)
    payload = base64.b64decode(server.received[2].strip())
    expected = "user=shared@example.test\x01" if mechanism == "XOAUTH2" else "n,a=shared@example.test,\x01"
    assert payload == f"{expected}auth=Bearer {token}\x01\x01".encode()


def test_refused_token_is_an_authentication_error_without_the_token(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    token = canary("access-token")
    error = base64.b64encode(b'{"status":"401","schemes":"bearer"}')

    def script(conn: ScriptedConnection) -> None:
        for step in [GREETING, *capability(b"IMAP4rev1 AUTH=XOAUTH2"), Expect(rb"AUTHENTICATE XOAUTH2")]:
            conn.run_step(step)
        tag = conn.tag
        conn.send(b"+ \r\n")
        conn.read_line()
        conn.send(b"+ " + error + b"\r\n")
        conn.run_step(Expect(rb"^\r\n$"))
        conn.send(tag + b" NO [AUTHENTICATIONFAILED] denied\r\n")

    server = scripted_server(script)
    credentials = Credentials(kind="bearer", username="app@example.test", secret=Secret(token))
    with pytest.raises(AuthenticationError, match="AUTHENTICATIONFAILED") as caught:
        ImapTransport().open(make_account(server.port, TlsMode.NONE), credentials)
    assert token not in str(caught.value) and "app@example.test" in str(caught.value)
    server.wait_for_connections(1)
    assert server.errors == []


def test_logindisabled_without_plain_refuses_without_sending_the_password(
    scripted_server: Any, make_account: MakeAccount
) -> None:
    server = scripted_server([GREETING, *capability(b"IMAP4rev1 LOGINDISABLED")])
    credentials = Credentials(kind="password", username="alice", secret=Secret(canary("password")))
    with pytest.raises(AuthenticationError, match="LOGINDISABLED"):
        ImapTransport().open(make_account(server.port, TlsMode.NONE), credentials)
    server.wait_for_connections(1)
    assert not any(b"LOGIN" in line.split()[1:2][0] for line in server.received if len(line.split()) > 1)


def test_registers_imap_with_its_settings() -> None:
    plugins = load_plugins(extra=[("imap", plugin)], autoload=False, builtins=False)
    registration = plugins.registries.receive_transports.get("imap")
    assert registration.factory is ImapTransport and registration.settings is ImapSettings
    assert isinstance(plugins.receive_transport("imap"), ReceiveTransport)


def test_found_through_the_entry_point_when_installed() -> None:
    plugins = load_plugins()
    assert plugins.registries.receive_transports.get("imap").factory is ImapTransport


def test_loading_the_plugin_does_not_import_imaplib() -> None:
    code = "import sys, mailconduit_imap.plugin; print('imaplib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
