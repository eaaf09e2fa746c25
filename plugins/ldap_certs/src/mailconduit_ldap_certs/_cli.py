"""``mailconduit ldap base-dns ACCOUNT`` and ``mailconduit certs lookup ADDRESS --account A``."""

from __future__ import annotations

import json
from typing import Any

import click

from mailconduit import Account, Address, MailconduitError, parse_address
from mailconduit_ldap_certs._settings import LdapSettings

__all__ = ["certs", "ldap"]


def _account(name: str) -> tuple[Any, Account]:
    ctx = click.get_current_context().find_root().obj
    try:
        account = ctx.config().accounts[name]
    except KeyError:
        raise click.ClickException(f"unknown account {name!r}; see `mailconduit config show`") from None
    except MailconduitError as exc:
        raise click.ClickException(str(exc)) from None
    return ctx, account


@click.group()
def ldap() -> None:
    """Inspect an account's LDAP directory (its ``ldap:`` section)."""


@ldap.command("base-dns")
@click.argument("account")
def base_dns(account: str) -> None:
    """List the naming contexts (base DNs) ACCOUNT's directory announces; the first is the default."""
    from mailconduit_ldap_certs._client import connect, naming_contexts

    _ctx, found = _account(account)
    settings = found.section("ldap", LdapSettings)
    if settings is None:
        raise click.ClickException(f"account {account!r} has no ldap: section")
    try:
        with connect(settings, found) as conn:
            contexts = naming_contexts(conn)
    except MailconduitError as exc:
        raise click.ClickException(str(exc)) from None
    for dn in contexts:
        click.echo(dn)


@click.group()
def certs() -> None:
    """Recipient certificates, from every installed source."""


@certs.command("lookup")
@click.argument("address")
@click.option("--account", "account_name", required=True, help="The sending account whose sources to ask.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def lookup(address: str, account_name: str, as_json: bool) -> None:
    """Show the certificates every source (LDAP, files, mail received) offers for ADDRESS."""
    ctx, account = _account(account_name)
    try:
        wanted = Address(parse_address(address).addr_spec)
        offered = ctx.plugins().hooks.recipient_certificates([wanted], account).get(wanted, [])
    except MailconduitError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [
        {
            "source": c.source,
            "subject": c.subject,
            "addresses": sorted(c.addresses),
            "not_before": c.not_before.isoformat(),
            "not_after": c.not_after.isoformat(),
            "key_usage": sorted(c.key_usage),
        }
        for c in offered
    ]
    if as_json:
        click.echo(json.dumps({"address": wanted.addr_spec, "certificates": rows}, indent=2))
        return
    if not rows:
        click.echo(f"no certificate found for {wanted.addr_spec}")
        raise SystemExit(1)
    for row in rows:
        click.echo(f"{row['source']}: {row['subject']}")
        click.echo(f"  valid {row['not_before']} .. {row['not_after']}")
        click.echo(f"  key usage: {', '.join(row['key_usage']) or '(unrestricted)'}")
