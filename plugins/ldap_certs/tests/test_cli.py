"""``mailconduit ldap base-dns`` and ``mailconduit certs lookup`` through the real CLI and slapd."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from mailconduit._cli import cli
from mailconduit._cli._context import CliContext
from mailconduit.testing import SlapdServer, canary

from .conftest import email_cert


def _invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    # The core's LazyGroup resolves plugin commands before the group callback sets ctx.obj, so a
    # plain `mailconduit ldap ...` does not find them yet (reported); hand it a context up front.
    return CliRunner().invoke(cli, args, env=env, obj=CliContext())


def _config(tmp_path: Path, slapd: SlapdServer, ca_pem: Path, bind: str = "anonymous") -> Path:
    path = tmp_path / "mailconduit.yaml"
    path.write_text(
        f"""
database: sqlite:///{tmp_path}/store.db
accounts:
  support:
    email: support@example.test
    ca_file: {ca_pem}
    ldap:
      host: 127.0.0.1
      port: {slapd.port}
      tls: starttls
      bind: {bind}
""",
        encoding="utf-8",
    )
    return path


def test_base_dns_lists_the_naming_context(tmp_path: Path, slapd: SlapdServer, ca_pem: Path) -> None:
    result = _invoke(["--config", str(_config(tmp_path, slapd, ca_pem)), "ldap", "base-dns", "support"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [slapd.suffix]


def test_certs_lookup_shows_the_directory_certificate(
    tmp_path: Path, slapd: SlapdServer, ca_pem: Path, test_ca: Any
) -> None:
    address = "cli-lookup@example.test"
    slapd.add_entry(address, [email_cert(test_ca, address)])
    config = str(_config(tmp_path, slapd, ca_pem))
    result = _invoke(["--config", config, "certs", "lookup", address, "--account", "support", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["certificates"]
    assert row["source"] == "ldap" and address in row["addresses"]
    missing = _invoke(["--config", config, "certs", "lookup", "no-one@example.test", "--account", "support"])
    assert missing.exit_code == 1 and "no certificate found" in missing.output


def test_a_wrong_bind_password_never_shows(tmp_path: Path, slapd: SlapdServer, ca_pem: Path) -> None:
    password = canary("password")
    config = _config(
        tmp_path, slapd, ca_pem, bind=f"{{user: '{slapd.root_dn}', password: '${{env:LDAP_PW}}'}}"
    )
    result = _invoke(["--config", str(config), "ldap", "base-dns", "support"], {"LDAP_PW": password})
    assert result.exit_code != 0
    assert "refused" in result.output and password not in result.output
