r"""Built-in action ``flag``: add flags to each message on the server once every step accepted it.

::

    - flag: {add: ['\Seen', '\Flagged', handled]}

The flags are recorded with the batch's results (``ActionContext.change_on_server``) and set by
the after-replication step, before any move, as ``UID STORE +FLAGS.SILENT`` of exactly those
messages. The mailbox must have the ``flags`` capability (IMAP has; POP3 has no flags, so a
pipeline of a POP3 account with ``flag`` is a configuration error).
"""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import define, field

from mailconduit._builtins._server_check import refuse
from mailconduit._model import Account
from mailconduit._protocols import ActionContext, Mailbox
from mailconduit._types import ActionResult, StoredMessage

__all__ = ["FlagAction", "FlagSettings"]

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
_BY_LOWER = {flag.lower(): flag for flag in SYSTEM_FLAGS}


def _spelled(flag: str) -> str:
    r"""A system flag in its usual spelling (``\\seen`` -> ``\\Seen``); keywords as given."""
    return _BY_LOWER.get(flag.lower(), flag) if flag.startswith("\\") else flag


def _flags(_instance: Any, _attribute: Any, value: list[str]) -> None:
    if not value:
        raise ValueError("needs at least one flag, like \\Seen, \\Flagged or a keyword")
    for flag in value:
        if flag.startswith("\\"):
            if flag.lower() not in _BY_LOWER:
                raise ValueError(f"{flag!r} is not a system flag; use one of {', '.join(SYSTEM_FLAGS)}")
            if _spelled(flag) == "\\Deleted":
                raise ValueError(
                    "\\Deleted is not set by a step (it would expunge with another client's EXPUNGE); "
                    "use after_replication: delete"
                )
        elif not flag or any(c in flag for c in ' \r\n\0()]{%*"\\'):
            raise ValueError(f"{flag!r} is not an IMAP keyword (no spaces, brackets, quotes or wildcards)")


@define(frozen=True, kw_only=True)
class FlagSettings:
    """``flag:`` settings: ``add``, the flags to add."""

    server_capabilities: ClassVar[frozenset[str]] = frozenset({"flags"})

    add: list[str] = field(validator=_flags)


class FlagAction:
    """``flag``: the action (see the module docstring)."""

    def __init__(self, settings: FlagSettings) -> None:
        self.settings = settings
        self._flags = [_spelled(f) for f in settings.add]

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """Ask for the flags to be added once every step accepted the message."""
        context.change_on_server(message, add_flags=self._flags)
        return ActionResult(accepted=True)

    def check_mailbox(
        self,
        mailbox: Mailbox,
        capabilities: frozenset[str],
        *,
        account: Account,
        folder: str,
        pipeline: str | None,
    ) -> None:
        """Refuse the run before fetching when the mailbox cannot set flags."""
        if "flags" not in capabilities:
            raise refuse(account, pipeline, "flag", "cannot set flags on messages (no flags capability)")
