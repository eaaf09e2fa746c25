"""``mailconduit auth login|status|diagnose``: sign in, see the token state, find out why a login fails."""

from __future__ import annotations

import json
from typing import Any

import click

from mailconduit import Account, MailconduitError

__all__ = ["auth"]


def _root() -> Any:
    return click.get_current_context().find_root().obj


def _entra_accounts(name: str | None) -> tuple[Any, list[Account]]:
    from mailconduit_entra_oauth._settings import EntraAuth

    ctx = _root()
    try:
        accounts = ctx.config().accounts
    except MailconduitError as exc:
        raise click.ClickException(str(exc)) from None
    if name is not None:
        if name not in accounts:
            raise click.ClickException(f"unknown account {name!r}; see `mailconduit config show`")
        chosen = [accounts[name]]
    else:
        chosen = list(accounts.values())
    chosen = [a for a in chosen if isinstance(a.auth, EntraAuth)]
    if name is not None and not chosen:
        raise click.ClickException(f"account {name!r} does not use auth method entra_oauth")
    return ctx, chosen


def _context(ctx: Any) -> Any:
    context = ctx.plugins().auth_context
    if context is None:
        raise click.ClickException("no store for the token cache; pass --db or set database: in the config")
    return context


@click.group()
def auth() -> None:
    """Entra ID OAuth: sign accounts in, show token state, diagnose refused logins."""


@auth.command()
@click.argument("account")
@click.option("--device", is_flag=True, help="Device code sign-in (a code to enter on another device).")
@click.option("--no-browser", is_flag=True, help="Print the sign-in URL instead of opening a browser.")
@click.option(
    "--timeout", type=float, default=300.0, show_default=True, help="Seconds to wait for the sign-in."
)
def login(account: str, device: bool, no_browser: bool, timeout: float) -> None:
    """Sign ACCOUNT's user in (browser with a local redirect listener, or --device) and cache the tokens."""
    import webbrowser

    from mailconduit_entra_oauth._loopback import browser_sign_in
    from mailconduit_entra_oauth._signin import device_sign_in

    ctx, (found,) = _entra_accounts(account)
    context = _context(ctx)
    try:
        if device:
            done = device_sign_in(found, context=context, show=lambda text: click.echo(text, err=True))
        else:
            opener = (
                (lambda url: click.echo(f"Open this URL to sign in:\n{url}", err=True))
                if no_browser
                else webbrowser.open
            )
            done = browser_sign_in(found, context=context, open_browser=opener, timeout=timeout)
    except MailconduitError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"account {done.account}: signed in as {done.username}; "
        f"token valid until {done.expires_at:%Y-%m-%d %H:%M} UTC"
    )


@auth.command()
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(account: str | None, as_json: bool) -> None:
    """Show flow, user, scopes, expiry, last refresh and needs-reauth of ACCOUNT (default: all)."""
    from mailconduit_entra_oauth._inspect import cache_facts
    from mailconduit_entra_oauth._settings import EntraAuth

    ctx, accounts = _entra_accounts(account)
    context = _context(ctx)
    rows = []
    try:
        for acct in accounts:
            auth = acct.auth
            assert isinstance(auth, EntraAuth)
            provider = context.provider(auth.provider)
            mark = context.needs_reauth(acct.name)
            facts = cache_facts(context.load_cache(acct.name))
            rows.append(
                {
                    "account": acct.name,
                    "provider": auth.provider,
                    "flow": provider.flow,
                    "user": facts["user"] or (auth.username or acct.mailbox),
                    "scopes": facts["scopes"],
                    "expires": facts["expires"],
                    "last_refresh": facts["last_refresh"],
                    "needs_reauth": mark.reason if mark else None,
                }
            )
    except MailconduitError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['account']} ({row['provider']}, {row['flow']})")
        for key in ("user", "scopes", "expires", "last_refresh", "needs_reauth"):
            value = row[key]
            shown = " ".join(value) if isinstance(value, list) else (value or "-")
            click.echo(f"  {key.replace('_', ' ')}: {shown}")


@auth.command()
@click.argument("account")
def diagnose(account: str) -> None:
    """Decode ACCOUNT's token claims (never the token) and try each configured protocol."""
    from mailconduit_entra_oauth._hints import hint_for
    from mailconduit_entra_oauth._inspect import token_claims

    ctx, (found,) = _entra_accounts(account)
    plugins = ctx.plugins()
    failed = False
    for direction, settings in (("send", found.send), ("receive", found.receive)):
        if settings is None:
            continue
        protocol = settings.protocol
        click.echo(f"{protocol} ({direction}, {settings.host}):")
        try:
            credentials = plugins.authenticator("entra_oauth").credentials(found, protocol)
        except MailconduitError as exc:
            failed = True
            click.echo(f"  token: FAILED: {exc}")
            continue
        for key, value in token_claims(credentials.secret.reveal()).items():
            click.echo(f"  {key}: {' '.join(value) if isinstance(value, list) else value}")
        click.echo(f"  login as: {credentials.mailbox_user}")
        try:
            if direction == "send":
                plugins.send_transport(protocol).open(found, credentials).close()
            else:
                plugins.receive_transport(protocol).open(found, credentials).close()
            click.echo("  login: OK")
        except MailconduitError as exc:
            failed = True
            text = str(exc).replace(credentials.secret.reveal(), "***")
            click.echo(f"  login: FAILED: {text}")
            hint = hint_for(text)
            if hint:
                click.echo(f"  likely cause: {hint}")
    if failed:
        raise SystemExit(1)
