"""``mailconduit config check [FILE]``: every problem of a configuration at once, or what it sets up."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json, table

if TYPE_CHECKING:
    from mailconduit._config import Config
    from mailconduit._model import Account
    from mailconduit._plugins import PluginSet

__all__ = ["config"]


@click.group()
def config() -> None:
    """Check the configuration."""


@config.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary (or the problems) as JSON.")
@click.pass_obj
def check(ctx: CliContext, file: Path | None, as_json: bool) -> None:
    """Validate FILE (default: the config in effect) and print every problem, or a summary.

    Exits with status 1 when there are problems, 0 when the configuration is valid. Secrets are
    never printed; a secret shows where it comes from (env:NAME, file:PATH) at most.
    """
    from mailconduit._errors import ConfigError

    try:
        if file is None:
            plugins = ctx.plugins()
            loaded = ctx.config()
        else:
            from mailconduit._config import load_config, local_plugin_modules
            from mailconduit._plugins import load_plugins

            plugins = load_plugins(local=local_plugin_modules(file) if file.exists() else [])
            loaded = load_config(file, plugins, db_url=ctx.db_url)
    except ConfigError as exc:
        _print_problems(exc, as_json)
        raise click.exceptions.Exit(1) from None
    summary = _summary(loaded, plugins)
    if as_json:
        emit_json(summary)
        return
    _print_summary(summary)


def _print_problems(exc: Any, as_json: bool) -> None:
    problems = [(path, message) for path, message in exc.problems]
    if as_json:
        emit_json({"source": exc.source, "problems": [{"path": p, "message": m} for p, m in problems]})
        return
    for path, message in problems:
        click.echo(f"{path}: {message}" if path else message)
    count = len(problems)
    where = f" in {exc.source}" if exc.source else ""
    click.secho(f"{count} problem{'s' if count != 1 else ''}{where}", fg="red", err=True)


def _endpoint(settings: Any) -> str | None:
    if settings is None:
        return None
    port = f":{settings.port}" if settings.port is not None else ""
    return f"{settings.protocol} {settings.host}{port} ({settings.tls.value})"


def _account_row(account: Account) -> dict[str, Any]:
    receive = account.receive
    return {
        "account": account.name,
        "email": account.email,
        "auth": account.auth.method if account.auth is not None else None,
        "send": _endpoint(account.send),
        "receive": _endpoint(receive),
        "folder": receive.effective_folder if receive is not None and receive.protocol != "pop3" else None,
        "sections": sorted(account.sections),
    }


def _plugins_used(loaded: Config, plugins: PluginSet) -> list[dict[str, Any]]:
    registries = plugins.registries
    used: set[str] = set()

    def note(registry: Any, name: str | None) -> None:
        if name is not None and name in registry:
            used.add(registry.get(name).plugin)

    for account in loaded.accounts.values():
        note(registries.authenticators, account.auth.method if account.auth else None)
        note(registries.send_transports, account.send.protocol if account.send else None)
        note(registries.receive_transports, account.receive.protocol if account.receive else None)
        for section in account.sections:
            note(registries.sections, section)
    for provider in loaded.oauth_providers.values():
        note(registries.oauth_providers, provider.type)
    for pipeline in loaded.pipelines.values():
        for step in [*pipeline.steps, *pipeline.on_error]:
            note(registries.actions, step.name)
    used.update(loaded.plugins)
    infos = {info.name: info for info in plugins.plugins}
    return [
        {
            "plugin": name,
            "distribution": infos[name].distribution if name in infos else None,
            "version": infos[name].version if name in infos else None,
        }
        for name in sorted(used)
    ]


def _summary(loaded: Config, plugins: PluginSet) -> dict[str, Any]:
    from mailconduit._config import redact_url

    secret_key = loaded.secret_key
    return {
        "source": str(loaded.source) if loaded.source else None,
        "database": redact_url(loaded.database),
        "secret_key": None if secret_key is None else (secret_key.source or "set inline"),
        "templates": str(loaded.templates) if loaded.templates else None,
        "accounts": [_account_row(account) for account in loaded.accounts.values()],
        "oauth_providers": [{"name": n, "type": p.type} for n, p in loaded.oauth_providers.items()],
        "pipelines": [
            {
                "pipeline": name,
                "account": pipeline.receive,
                "steps": [step.name for step in pipeline.steps],
                "on_error": [step.name for step in pipeline.on_error],
            }
            for name, pipeline in loaded.pipelines.items()
        ],
        "plugins_used": _plugins_used(loaded, plugins),
        "plugin_failures": [failure.plugin for failure in plugins.failures],
    }


def _print_summary(summary: dict[str, Any]) -> None:
    where = summary["source"] or "the configuration"
    click.secho(f"{where}: OK", fg="green")
    click.echo(f"database: {summary['database']}")
    click.echo(f"secret_key: {summary['secret_key'] or 'not set'}")
    if summary["templates"]:
        click.echo(f"templates: {summary['templates']}")
    click.echo("")
    columns = ["account", "email", "auth", "send", "receive", "folder"]
    table("Accounts", columns, [[row[c] for c in columns] for row in summary["accounts"]])
    if summary["oauth_providers"]:
        click.echo("")
        table(
            "OAuth providers", ["name", "type"], [[p["name"], p["type"]] for p in summary["oauth_providers"]]
        )
    click.echo("")
    table(
        "Pipelines",
        ["pipeline", "account", "steps", "on_error"],
        [
            [p["pipeline"], p["account"], ", ".join(p["steps"]), ", ".join(p["on_error"])]
            for p in summary["pipelines"]
        ],
    )
    click.echo("")
    plugins = ", ".join(
        f"{p['plugin']} ({p['distribution']})" if p["distribution"] else p["plugin"]
        for p in summary["plugins_used"]
    )
    click.echo(f"plugins used: {plugins or 'none'}")
    if summary["plugin_failures"]:
        click.echo(
            f"plugins that failed to load (not used here): {', '.join(summary['plugin_failures'])}; "
            "see `mailconduit plugins`"
        )
