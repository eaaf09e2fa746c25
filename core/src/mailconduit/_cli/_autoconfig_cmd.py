"""``mailconduit autoconfig ADDRESS``: propose an account's server settings as a YAML config block."""

from __future__ import annotations

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json

__all__ = ["autoconfig"]


@click.command()
@click.argument("address")
@click.option("--name", help="The account's name in the block (default: from the address).")
@click.option("--offline", is_flag=True, help="Use the built-in provider table only; no network.")
@click.option(
    "--receive",
    "prefer",
    type=click.Choice(["imap", "pop3"]),
    help="Receive protocol to prefer where both are offered (default: IMAP).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=4.0,
    show_default=True,
    help="Seconds for each HTTP request and DNS query.",
)
@click.option("--dns-server", metavar="IP[:PORT]", help="Ask this DNS server instead of the system's.")
@click.option(
    "--url",
    "urls",
    multiple=True,
    metavar="URL",
    help="Also try this autoconfig URL (config-v1.1.xml) first; repeatable.",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Extra trusted CA certificates (PEM) for the HTTPS lookups.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (settings, source, quirks, notes, YAML).")
@click.pass_obj
def autoconfig(
    _ctx: CliContext,
    *,
    address: str,
    name: str | None,
    offline: bool,
    prefer: str | None,
    timeout: float,
    dns_server: str | None,
    urls: tuple[str, ...],
    ca_file: str | None,
    as_json: bool,
) -> None:
    """Propose server settings for ADDRESS and print them as a YAML block for the config.

    Sources, most trusted first: the built-in table of common providers (Gmail, Outlook.com,
    Exchange Online, Yahoo, iCloud, Fastmail, GMX, AOL, Zoho, mailbox.org, Proton Mail Bridge);
    then, unless --offline, the domain's published autoconfig (autoconfig.DOMAIN and
    DOMAIN/.well-known), DNS SRV records (RFC 6186) and the provider behind the domain's MX hosts.
    Comments in the block name the source and the provider's quirks. Lookups that fail become
    notes. Exits 1 when no source knows the domain.
    """
    from mailconduit._autoconfig import check_address, propose, to_json, to_yaml
    from mailconduit._autoconfig._lookup import LookupOptions, look_up, parse_dns_server

    try:
        address = check_address(address)
        server = parse_dns_server(dns_server) if dns_server else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if name is not None and not name.replace("_", "").replace("-", "").isalnum():
        raise click.BadParameter(f"{name!r}: use letters, digits, '-' and '_'", param_hint="--name")
    findings = None
    proposal = propose(address, prefer=prefer)  # the table needs no network
    if proposal is None and not offline:
        options = LookupOptions(timeout=timeout, dns_server=server, ca_file=ca_file, extra_urls=urls)
        findings = look_up(address, options)
        proposal = propose(address, findings, prefer=prefer)
    if proposal is None:
        notes = findings.notes if findings is not None else []
        if as_json:
            emit_json({"address": address, "source": None, "notes": notes})
        else:
            where = "the built-in table" if offline else "the built-in table, autoconfig, SRV or MX"
            click.echo(f"no settings found for {address} in {where}", err=True)
            for note in notes:
                click.echo(f"  note: {note}", err=True)
            if offline:
                click.echo("  try again without --offline to look the domain up", err=True)
        raise SystemExit(1)
    if as_json:
        emit_json(to_json(proposal, name))
    else:
        click.echo(to_yaml(proposal, name), nl=False)
