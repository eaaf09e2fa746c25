"""The ``mailconduit`` command: global options and a lazy group whose subcommands import on use."""

from __future__ import annotations

import sys
from typing import Any

import click

from mailconduit._cli._context import CliContext

__all__ = ["BUILTIN_COMMANDS", "cli", "main"]

# name -> ("module:attribute", one-line help); each module is imported only when its command runs
BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    "plugins": (
        "mailconduit._cli._plugins_cmd:plugins",
        "List installed plugins, what they provide, and failures.",
    ),
    "config": ("mailconduit._cli._config_cmd:config", "Check the configuration."),
    "db": ("mailconduit._cli._db_cmd:db", "Create or upgrade the store's schema."),
    "key": ("mailconduit._cli._key_cmd:key", "Make keys that encrypt secrets at rest."),
    "log": ("mailconduit._cli._log_cmd:log", "Show the email log."),
    "template": (
        "mailconduit._cli._template_cmd:template",
        "List, render, preview, export and import templates.",
    ),
    "draft": ("mailconduit._cli._draft_cmd:draft", "Make, edit and send drafts rendered from templates."),
    "send": ("mailconduit._cli._send_cmd:send", "Send a message now, or queue it."),
    "outbox": ("mailconduit._cli._outbox_cmd:outbox", "Run the outbox worker; list and retry outgoing mail."),
    "check": (
        "mailconduit._cli._check_cmd:check",
        "Connect and log in to an account's servers; send nothing.",
    ),
    "fetch": ("mailconduit._cli._fetch_cmd:fetch", "Replicate an account's folder into the store."),
    "adopt": ("mailconduit._cli._adopt_cmd:adopt", "Record what a folder holds now as already seen."),
    "folders": ("mailconduit._cli._folders_cmd:folders", "List an account's folders and special uses."),
    "messages": ("mailconduit._cli._messages_cmd:messages", "List, show and view received messages."),
    "replay": ("mailconduit._cli._replay_cmd:replay", "Run a pipeline's steps again on a stored message."),
    "run": ("mailconduit._cli._run_cmd:run", "Run every pipeline and the outbox worker until stopped."),
    "status": ("mailconduit._cli._status_cmd:status", "Show pipelines' health and outboxes' depth."),
    "autoconfig": (
        "mailconduit._cli._autoconfig_cmd:autoconfig",
        "Propose server settings for an address as a YAML account block.",
    ),
}


def _import_target(target: str) -> click.Command:
    import importlib

    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise click.ClickException(f"{target} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group that lists built-in and plugin commands without importing them."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, tuple[str, str]]:
        obj = ctx.find_object(CliContext)
        if obj is None:  # click resolves the subcommand before the group's callback sets ctx.obj
            obj = CliContext(config_path=ctx.params.get("config_path"), db_url=ctx.params.get("db_url"))
            ctx.obj = obj
        try:
            registry = obj.plugins().registries.commands
        except Exception:  # a broken plugin set must not break --help; `mailconduit plugins` shows it
            return {}
        return {r.name: (str(r.factory), str(r.extra.get("help", ""))) for r in registry}

    def _all(self, ctx: click.Context) -> dict[str, tuple[str, str]]:
        commands = dict(self._plugin_commands(ctx))
        commands.update(BUILTIN_COMMANDS)  # built-ins win; a plugin cannot shadow them
        return commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted."""
        return sorted(self._all(ctx))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return the command ``cmd_name``."""
        target = self._all(ctx).get(cmd_name)
        return _import_target(target[0]) if target else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands with their one-line help, without importing them."""
        rows = [(name, help_text) for name, (_t, help_text) in sorted(self._all(ctx).items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="MAILCONDUIT_CONFIG",
    help="Config file (default: $MAILCONDUIT_CONFIG, else ./mailconduit.yaml).",
)
@click.option("--db", "db_url", metavar="URL", help="Store URL; overrides `database:` in the config.")
@click.option("-v", "--verbose", count=True, help="More detail (tracebacks of plugin failures with -v).")
@click.version_option(package_name="mailconduit", prog_name="mailconduit")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db_url: str | None, verbose: int) -> None:
    """mailconduit: send, replicate, template, sign and encrypt mail through your own servers."""
    if isinstance(ctx.obj, CliContext):  # made while resolving the subcommand: keep its loaded plugins
        ctx.obj.config_path, ctx.obj.db_url, ctx.obj.verbose = config_path, db_url, verbose
    else:
        ctx.obj = CliContext(config_path=config_path, db_url=db_url, verbose=verbose)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; errors from mailconduit become one clear line and exit status 1."""
    from mailconduit._errors import MailconduitError

    try:
        return cli.main(args=argv, prog_name="mailconduit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except MailconduitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
