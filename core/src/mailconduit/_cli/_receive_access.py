"""What the receiving commands share: the account to replicate, one-line failures, run summaries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from mailconduit._cli._context import CliContext

if TYPE_CHECKING:
    from mailconduit._model import Account
    from mailconduit._types import RunResult

__all__ = ["receiving_account", "summary", "summary_line", "translated_errors"]

SUMMARY_FIELDS = ("fetched", "stored", "known", "failed", "moved", "deleted", "remaining")


def receiving_account(ctx: CliContext, name: str) -> Account:
    """The configured account ``name``, checked to have a ``receive:`` section."""
    config = ctx.config()
    account = config.accounts.get(name)
    if account is None:
        available = ", ".join(sorted(config.accounts)) or "none"
        raise click.ClickException(f"unknown account {name!r}; configured accounts: {available}")
    if account.receive is None:
        raise click.ClickException(
            f"account {name!r} has no receive: section; add one (protocol, host) to replicate it"
        )
    return account


@contextmanager
def translated_errors(what: str) -> Iterator[None]:
    """Turn mailconduit's errors into one clear line and exit status 1 (no traceback, no secret).

    Args:
        what: what was being done, as in ``"fetch for account 'support'"``.
    """
    from mailconduit._errors import MailconduitError

    try:
        yield
    except MailconduitError as exc:
        raise click.ClickException(f"{what} failed: {exc}") from None
    except LookupError as exc:  # unknown plugin, protocol or account name
        raise click.ClickException(f"{what} failed: {exc.args[0] if exc.args else exc}") from None


def summary(result: RunResult) -> dict[str, Any]:
    """A run's counts as a JSON-ready mapping (``already_running`` says when it did nothing)."""
    from mailconduit._replicate import AlreadyRunning

    data: dict[str, Any] = {name: getattr(result, name) for name in SUMMARY_FIELDS}
    data["duration_seconds"] = round(result.duration.total_seconds(), 3)
    data["mode"] = result.mode
    if isinstance(result, AlreadyRunning):
        data["already_running"] = result.reason
    return data


def summary_line(result: RunResult, *, dry_run: bool = False) -> str:
    """A run's counts on one line, for people."""
    from mailconduit._replicate import AlreadyRunning

    if isinstance(result, AlreadyRunning):
        return result.reason
    if dry_run:
        return f"dry run: {result.remaining} new message(s) on the server; nothing fetched or changed"
    moved_or_deleted = f"moved {result.moved}, deleted {result.deleted}"
    return (
        f"fetched {result.fetched}, stored {result.stored}, known {result.known}, "
        f"failed {result.failed}, {moved_or_deleted}, remaining {result.remaining} "
        f"({result.duration.total_seconds():.1f} s)"
    )
