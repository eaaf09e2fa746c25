"""``mailconduit plugins``: installed plugins, what each registered, and load failures."""

from __future__ import annotations

from typing import Any

import click

from mailconduit._cli._context import CliContext
from mailconduit._cli._output import emit_json, table
from mailconduit._registering import describe

__all__ = ["plugins"]


def _report(ctx: CliContext) -> dict[str, Any]:
    plugin_set = ctx.plugins()
    registrations: dict[str, list[dict[str, str]]] = {}
    for registry in plugin_set.registries.all():
        for registration in registry:
            target = (
                registration.factory
                if isinstance(registration.factory, str)
                else describe(registration.factory)
            )
            registrations.setdefault(registration.plugin, []).append(
                {"kind": registry.kind, "name": registration.name, "target": target}
            )
    return {
        "plugins": [
            {
                "name": info.name,
                "distribution": info.distribution,
                "version": info.version,
                "builtin": info.builtin,
                "module": info.module,
                "hooks": list(info.hooks),
                "registered": registrations.get(info.name, []),
            }
            for info in plugin_set.plugins
        ],
        "failures": [
            {
                "plugin": failure.plugin,
                "distribution": failure.distribution,
                "error": failure.error,
                **({"traceback": failure.traceback} if ctx.verbose else {}),
            }
            for failure in plugin_set.failures
        ],
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
def plugins(ctx: CliContext, as_json: bool) -> None:
    """List installed plugins, their versions and hooks, what each registered, and load failures.

    A failed plugin is only an error where the configuration uses it; run with -v to see tracebacks.
    """
    report = _report(ctx)
    if as_json:
        emit_json(report)
        return
    rows = []
    for plugin in report["plugins"]:
        provided = ", ".join(f"{r['kind']} {r['name']}" for r in plugin["registered"]) or "-"
        origin = "built-in" if plugin["builtin"] else (plugin["distribution"] or plugin["module"])
        rows.append([plugin["name"], origin, plugin["version"] or "", ", ".join(plugin["hooks"]), provided])
    table("Plugins", ["plugin", "from", "version", "hooks", "provides"], rows)
    if report["failures"]:
        click.echo("")
        click.secho(f"{len(report['failures'])} plugin(s) failed to load:", fg="red", err=False)
        for failure in report["failures"]:
            dist = f" ({failure['distribution']})" if failure["distribution"] else ""
            click.echo(f"  {failure['plugin']}{dist}: {failure['error']}")
            if ctx.verbose and failure.get("traceback"):
                click.echo(failure["traceback"])
        if not ctx.verbose:
            click.echo("  run `mailconduit -v plugins` to see the tracebacks")
