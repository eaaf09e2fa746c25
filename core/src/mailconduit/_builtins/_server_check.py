"""The check that server-changing actions (``move``, ``flag``) run before a replication fetches anything.

``replicate`` calls an action's optional ``check_mailbox(mailbox, capabilities, account=, folder=,
pipeline=)``
right after opening the mailbox; a ``ConfigError`` raised there stops the run before any message
is fetched, so an impossible change never leaves accepted messages with a pending change the
server refuses.
"""

from __future__ import annotations

from mailconduit._errors import ConfigError
from mailconduit._model import Account

__all__ = ["refuse"]


def refuse(account: Account, pipeline: str | None, what: str, problem: str) -> ConfigError:
    """A ``ConfigError`` at ``pipelines.NAME.steps`` about step ``what`` replicating ``account``."""
    receive = account.receive
    server = f"the {receive.protocol} server {receive.host}" if receive is not None else "the server"
    where = f"pipelines.{pipeline}.steps" if pipeline else "steps"
    return ConfigError([(where, f"step {what}: {server} {problem}")])
