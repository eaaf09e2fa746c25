"""``mailconduit check ACCOUNT``: connect, secure and log in to the account's servers, send nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json

if TYPE_CHECKING:
    from mailconduit._model import Account
    from mailconduit._types import Credentials

__all__ = ["check"]

SHOWN = (
    "protocol",
    "host",
    "port",
    "tls",
    "tls_version",
    "cipher",
    "certificate_subject",
    "certificate_not_after",
    "auth_mechanisms",
    "mechanism",
    "authenticated",
    "capabilities",
    "folders",
    "folder",
    "messages",
    "uidvalidity",
)


def _credentials(
    ctx: CliContext, account: Account, protocol: str
) -> tuple[Credentials | None, Mapping[str, Any] | None]:
    """The account's credentials for ``protocol``, or a failure report when they cannot be had."""
    from mailconduit._cli._mailbox_probe import PROBLEMS, diagnose
    from mailconduit._errors import MailconduitError

    if account.auth is None:
        return None, None
    try:
        return ctx.plugins().authenticator(account.auth.method).credentials(account, protocol), None
    except MailconduitError as exc:
        problem = diagnose(exc)
        report = {"ok": False, "problem": problem, "explanation": PROBLEMS[problem], "diagnosis": str(exc)}
        return None, report


def _probe_direction(ctx: CliContext, account_name: str, direction: str) -> Mapping[str, Any] | None:
    config = ctx.config()
    account = config.accounts[account_name]
    settings = account.send if direction == "send" else account.receive
    if settings is None:
        return None
    plugins = ctx.plugins()
    transport: Any = (
        plugins.send_transport(settings.protocol)
        if direction == "send"
        else plugins.receive_transport(settings.protocol)
    )
    probe = getattr(transport, "probe", None)
    if probe is None and direction == "send":
        return {"ok": True, "note": f"transport {settings.protocol!r} offers no connection check"}
    credentials, failure = _credentials(ctx, account, settings.protocol)
    if failure is not None:
        return failure
    if probe is None:  # any receive transport can be checked through the Mailbox protocol
        from mailconduit._cli._mailbox_probe import probe_mailbox

        return probe_mailbox(transport, account, credentials)
    result: Mapping[str, Any] = probe(account, credentials)
    return result


@click.command()
@click.argument("account")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def check(ctx: CliContext, account: str, as_json: bool) -> None:
    """Connect to ACCOUNT's send and receive servers, secure the connection and log in; send nothing.

    Reports what each server offers (the receive side: capabilities such as IDLE, MOVE and
    single-message delete, the folder's message count), or a diagnosis (refused, TLS name
    mismatch, expired or untrusted certificate, authentication rejected, timeout, an
    after-replication action the server cannot do). Reads nothing and changes nothing on the
    receive server. Exits 1 when a check fails.
    """
    config = ctx.config()
    if account not in config.accounts:
        available = ", ".join(sorted(config.accounts)) or "none"
        raise click.ClickException(f"unknown account {account!r}; available: {available}")
    results = {d: r for d in ("send", "receive") if (r := _probe_direction(ctx, account, d)) is not None}
    if not results:
        raise click.ClickException(f"account {account!r} has neither send: nor receive: settings")
    failed = [d for d, r in results.items() if not r.get("ok")]
    if as_json:
        emit_json({"account": account, **results})
    else:
        for direction, result in results.items():
            status = click.style("ok", fg="green") if result.get("ok") else click.style("FAILED", fg="red")
            click.echo(f"{direction}: {status}")
            for key in SHOWN:
                if result.get(key) not in (None, "", [], {}):
                    click.echo(f"  {key}: {result[key]}")
            if "note" in result:
                click.echo(f"  {result['note']}")
            if not result.get("ok"):
                click.echo(f"  problem: {result.get('problem')}: {result.get('explanation', '')}")
                click.echo(f"  diagnosis: {result.get('diagnosis', '')}")
    if failed:
        raise SystemExit(1)
