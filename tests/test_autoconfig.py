"""Account set-up help without a network: the provider table, autoconfig XML, SRV choice, the YAML block.

The YAML block is checked the way a user would: pasted into a config file and run through
`mailconduit config check`, which must accept it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mailconduit._autoconfig import (
    AuthKind,
    Findings,
    Server,
    Source,
    SrvRecord,
    by_domain,
    by_mx,
    choose_srv,
    parse_autoconfig,
    propose,
    to_json,
    to_yaml,
)
from mailconduit._model import TlsMode
from mailconduit.testing import canary

O365 = "outlook.office365.com"
XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.org">
    <domain>example.org</domain>
    <displayName>Example Mail</displayName>
    <incomingServer type="pop3">
      <hostname>pop.example.org</hostname><port>995</port><socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.example.org</hostname><port>143</port><socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username><authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.example.org</hostname><port>993</port><socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username><authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="exchange"><hostname>ews.example.org</hostname></incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.org</hostname><port>587</port><socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username><authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


def _config_check(tmp_path: Path, block: str, env: dict[str, str]) -> tuple[int, str]:
    from mailconduit._cli import cli

    path = tmp_path / "mailconduit.yaml"
    path.write_text(f"database: sqlite:///{tmp_path / 'store.db'}\n" + block)
    result = CliRunner().invoke(cli, ["--config", str(path), "config", "check", "--json"], env=env)
    return result.exit_code, result.output


# ------------------------------------------------------------------ the table


@pytest.mark.parametrize(
    ("address", "key", "receive", "send"),
    [
        ("jane@gmail.com", "gmail", "imap.gmail.com:993 tls", "smtp.gmail.com:465 tls"),
        (
            "jane@Hotmail.com",
            "outlook_com",
            "outlook.office365.com:993 tls",
            "smtp-mail.outlook.com:587 starttls",
        ),
        (
            "ops@contoso.onmicrosoft.com",
            "exchange_online",
            "outlook.office365.com:993 tls",
            "smtp.office365.com:587 starttls",
        ),
        ("jane@yahoo.co.uk", "yahoo", "imap.mail.yahoo.com:993 tls", "smtp.mail.yahoo.com:465 tls"),
        ("jane@me.com", "icloud", "imap.mail.me.com:993 tls", "smtp.mail.me.com:587 starttls"),
        ("jane@fastmail.com", "fastmail", "imap.fastmail.com:993 tls", "smtp.fastmail.com:465 tls"),
        ("jane@gmx.de", "gmx_net", "imap.gmx.net:993 tls", "mail.gmx.net:587 starttls"),
        ("jane@aol.com", "aol", "imap.aol.com:993 tls", "smtp.aol.com:465 tls"),
        ("jane@zohomail.com", "zoho", "imap.zoho.com:993 tls", "smtp.zoho.com:465 tls"),
        ("jane@mailbox.org", "mailbox_org", "imap.mailbox.org:993 tls", "smtp.mailbox.org:465 tls"),
        ("jane@proton.me", "proton_bridge", "127.0.0.1:1143 starttls", "127.0.0.1:1025 starttls"),
    ],
)
def test_known_providers_by_domain(address: str, key: str, receive: str, send: str) -> None:
    proposal = propose(address)
    assert proposal is not None and proposal.provider is not None
    assert proposal.source is Source.TABLE and proposal.provider.key == key
    assert proposal.receive is not None and proposal.send is not None
    assert f"{proposal.receive.host}:{proposal.receive.port} {proposal.receive.tls.value}" == receive
    assert f"{proposal.send.host}:{proposal.send.port} {proposal.send.tls.value}" == send


def test_unknown_domain_offline_gives_nothing() -> None:
    assert by_domain("example.org") is None
    assert propose("jane@example.org") is None


def test_pop3_preferred_when_asked() -> None:
    proposal = propose("jane@gmail.com", prefer="pop3")
    assert proposal is not None and proposal.receive is not None
    assert (proposal.receive.protocol, proposal.receive.host, proposal.receive.port) == (
        "pop3",
        "pop.gmail.com",
        995,
    )
    assert any(s.protocol == "imap" for s in proposal.alternatives)


@pytest.mark.parametrize(
    "bad", ["no-at-sign", "@example.org", "jane@", "jane@exa mple.org", "jane@localhost"]
)
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"address|domain"):
        propose(bad)


def test_mx_reveals_google_workspace_and_exchange_online() -> None:
    google = by_mx(["ASPMX.L.GOOGLE.COM.", "alt1.aspmx.l.google.com."])
    assert google is not None and google[0].key == "gmail" and google[1] == "aspmx.l.google.com"
    exchange = by_mx(["contoso-com.mail.protection.outlook.com."])
    assert exchange is not None and exchange[0].key == "exchange_online"
    assert by_mx(["mx.example.org", "notgoogle.com"]) is None


def test_mx_only_domain_gets_the_providers_settings_and_tenant() -> None:
    findings = Findings(mx_hosts=["contoso-com.mail.protection.outlook.com."])
    proposal = propose("ops@contoso.com", findings)
    assert proposal is not None and proposal.source is Source.MX
    assert proposal.auth is AuthKind.ENTRA_OAUTH
    assert proposal.receive == Server(
        protocol="imap", host="outlook.office365.com", port=993, tls=TlsMode.TLS
    )
    block = yaml.safe_load(to_yaml(proposal))
    assert block["oauth_providers"]["contoso_com"]["tenant"] == "contoso.com"
    assert block["accounts"]["ops"]["send"]["rate_limit"] == "30/min"


# ------------------------------------------------------------------ autoconfig XML


def test_autoconfig_xml_is_read_and_ordered() -> None:
    document = parse_autoconfig(XML, "jane@example.org")
    assert document.display_name == "Example Mail" and document.domains == ("example.org",)
    assert [(s.protocol, s.port) for s in document.receive] == [("imap", 993), ("imap", 143), ("pop3", 995)]
    assert document.receive[0].username == "jane" and document.receive[2].username is None
    assert [(s.host, s.port, s.tls) for s in document.send] == [("smtp.example.org", 587, TlsMode.STARTTLS)]
    assert any("exchange" in note for note in document.notes)


def test_autoconfig_proposal_uses_the_documents_username() -> None:
    findings = Findings(
        autoconfig=[("https://autoconfig.example.org/x", parse_autoconfig(XML, "jane@example.org"))]
    )
    proposal = propose("jane@example.org", findings)
    assert proposal is not None and proposal.source is Source.AUTOCONFIG
    account = yaml.safe_load(to_yaml(proposal))["accounts"]["jane"]
    assert account["auth"]["username"] == "jane"
    assert account["receive"] == {"protocol": "imap", "host": "imap.example.org", "port": 993, "tls": "tls"}


@pytest.mark.parametrize(
    "document",
    [
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]>"
        b"<clientConfig>&b;</clientConfig>",
        b"<clientConfig><emailProvider><incomingServer type='imap'>",
        b"<html><body>Not found</body></html>",
        b"\x00\xff garbage",
        b"<clientConfig>" + b"<x/>" * 70_000 + b"</clientConfig>",
    ],
    ids=["entities", "truncated", "html", "binary", "oversized"],
)
def test_hostile_or_broken_documents_give_a_note_not_an_error(document: bytes) -> None:
    parsed = parse_autoconfig(document, "jane@example.org")
    assert parsed.receive == () and parsed.send == ()
    assert parsed.notes


def test_hostile_host_names_and_ports_are_skipped() -> None:
    document = XML.replace(
        b"imap.example.org</hostname><port>993", b"evil\nhost: x</hostname><port>993"
    ).replace(b"<port>143</port>", b"<port>99999</port>")
    parsed = parse_autoconfig(document, "jane@example.org")
    assert [(s.protocol, s.port) for s in parsed.receive] == [("pop3", 995)]
    assert len([n for n in parsed.notes if "skipped" in n]) >= 2


def test_oauth_only_microsoft_servers_mean_entra() -> None:
    document = (
        b"<clientConfig><emailProvider><incomingServer type='imap'><hostname>outlook.office365.com</hostname>"
        b"<port>993</port><socketType>SSL</socketType><authentication>OAuth2</authentication>"
        b"</incomingServer></emailProvider></clientConfig>"
    )
    findings = Findings(autoconfig=[("https://x.test/c.xml", parse_autoconfig(document, "a@corp.example"))])
    proposal = propose("a@corp.example", findings)
    assert proposal is not None and proposal.auth is AuthKind.ENTRA_OAUTH


# ------------------------------------------------------------------ SRV


def test_srv_choice_follows_priority_then_implicit_tls() -> None:
    receive, send, notes = choose_srv(
        {
            "_imap._tcp": [SrvRecord(0, 1, 143, "mail.example.org.")],
            "_imaps._tcp": [
                SrvRecord(0, 1, 993, "mail.example.org."),
                SrvRecord(5, 1, 993, "backup.example.org."),
            ],
            "_pop3s._tcp": [SrvRecord(0, 1, 995, ".")],  # "." = not offered
            "_submission._tcp": [SrvRecord(10, 0, 587, "smtp.example.org.")],
            "_submissions._tcp": [
                SrvRecord(0, 0, 465, "bad host!."),
                SrvRecord(20, 0, 465, "smtp.example.org."),
            ],
        }
    )
    assert [(s.host, s.port, s.tls.value) for s in receive] == [
        ("mail.example.org", 993, "tls"),
        ("mail.example.org", 143, "starttls"),
        ("backup.example.org", 993, "tls"),
    ]
    assert [(s.port, s.tls.value) for s in send] == [(587, "starttls"), (465, "tls")]
    assert len(notes) == 1 and "bad host" in notes[0]


# ------------------------------------------------------------------ YAML, JSON and `config check`


@pytest.mark.parametrize(
    "address",
    [
        "jane.doe@gmail.com",
        "jane@outlook.com",
        "ops@contoso.onmicrosoft.com",
        "jane@icloud.com",
        "j@proton.me",
        "x@gmx.com",
    ],
)
def test_the_block_passes_config_check(tmp_path: Path, address: str) -> None:
    proposal = propose(address)
    assert proposal is not None
    block = to_yaml(proposal)
    data = to_json(proposal)
    env = {data["password_variable"]: canary("password")} if data["password_variable"] else {}
    code, output = _config_check(tmp_path, block, env)
    assert code == 0, output
    summary = json.loads(output)
    account = next(a for a in summary["accounts"] if a["account"] == data["account"])
    assert account["email"] == address
    assert account["receive"].startswith(
        f"{proposal.receive.protocol} {proposal.receive.host}:{proposal.receive.port}"
    )
    assert account["auth"] == ("entra_oauth" if proposal.auth is AuthKind.ENTRA_OAUTH else "password")


def test_the_block_names_its_source_and_quirks() -> None:
    gmail = to_yaml(propose("jane@gmail.com"))  # type: ignore[arg-type]
    assert "# Source: built-in provider table: Gmail" in gmail
    assert "app password" in gmail and "[Gmail]/All" in gmail
    exchange = to_yaml(propose("ops@contoso.onmicrosoft.com"))  # type: ignore[arg-type]
    assert "30 messages a minute" in exchange and "10,000 recipients a day" in exchange
    icloud = to_yaml(propose("jane@icloud.com"))  # type: ignore[arg-type]
    assert "app-specific password" in icloud
    yahoo = to_yaml(propose("jane@yahoo.com"))  # type: ignore[arg-type]
    assert "app password" in yahoo


def test_a_missing_password_variable_is_what_config_check_reports(tmp_path: Path) -> None:
    proposal = propose("jane@gmail.com")
    assert proposal is not None
    code, output = _config_check(tmp_path, to_yaml(proposal, "support"), {})
    assert code == 1
    assert "MAILCONDUIT_SUPPORT_PASSWORD" in output


def test_cli_offline_prints_the_block_and_json() -> None:
    from mailconduit._cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["autoconfig", "Jane.Doe@GMAIL.com", "--offline", "--name", "support"])
    assert result.exit_code == 0, result.output
    block = yaml.safe_load(result.output)
    assert block["accounts"]["support"]["email"] == "Jane.Doe@gmail.com"
    assert block["accounts"]["support"]["receive"]["host"] == "imap.gmail.com"
    result = runner.invoke(cli, ["autoconfig", "jane@icloud.com", "--offline", "--json"])
    data = json.loads(result.output)
    assert data["source"] == "table" and data["auth"] == "app_password"
    assert data["receive"]["host"] == "imap.mail.me.com" and data["alternatives"] == []


def test_cli_offline_unknown_domain_exits_1_with_a_hint() -> None:
    from mailconduit._cli import cli

    result = CliRunner().invoke(cli, ["autoconfig", "jane@example.org", "--offline"])
    assert result.exit_code == 1
    assert "no settings found for jane@example.org" in result.output
    assert "without --offline" in result.output


def test_cli_refuses_a_bad_address() -> None:
    from mailconduit._cli import cli

    result = CliRunner().invoke(cli, ["autoconfig", "not-an-address", "--offline"])
    assert result.exit_code == 2 and "not an e-mail address" in result.output
