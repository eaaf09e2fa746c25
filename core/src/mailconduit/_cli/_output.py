"""Output for humans and machines: rich tables on a terminal, plain text when piped, JSON on request."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

__all__ = ["emit_json", "is_terminal", "table"]


def is_terminal() -> bool:
    """True when stdout is a terminal (rich colours and tables), False when piped."""
    return sys.stdout.isatty()


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON (sorted keys, ISO dates, nothing else on stdout)."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table: a rich table on a terminal, tab-separated lines when piped."""
    if is_terminal():
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(title=title)
        for column in columns:
            rich_table.add_column(column)
        for row in rows:
            rich_table.add_row(*("" if cell is None else str(cell) for cell in row))
        Console().print(rich_table)
        return
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join("" if cell is None else str(cell) for cell in row))


def records(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str, as_json: bool) -> None:
    """Print mappings as JSON (``--json``) or as a table of ``columns``."""
    if as_json:
        emit_json(list(rows))
    else:
        table(title, columns, [[row.get(c) for c in columns] for row in rows])
