"""Built-in action ``move``: move each message to a folder on the server once every step accepted it.

::

    - move: {to: Archive/Support}

The move is recorded with the batch's results (``ActionContext.change_on_server``) and made by
the after-replication step as ``UID MOVE`` of exactly those messages; it replaces the pipeline's
own ``after_replication``. The target must exist: it is checked when the run opens the mailbox,
before anything is fetched. POP3 has no folders, so a pipeline of a POP3 account with ``move`` is
a configuration error.
"""

from __future__ import annotations

from typing import Any, ClassVar

from attrs import define, field

from mailconduit._builtins._server_check import refuse
from mailconduit._model import Account
from mailconduit._protocols import ActionContext, Mailbox
from mailconduit._types import ActionResult, StoredMessage

__all__ = ["MoveAction", "MoveSettings"]


def _folder(_instance: Any, _attribute: Any, value: str) -> None:
    if not value or any(c in value for c in "\r\n\0"):
        raise ValueError(f"expected a folder name, got {value!r}")


@define(frozen=True, kw_only=True)
class MoveSettings:
    """``move:`` settings: ``to``, the target folder (it must exist on the server)."""

    server_capabilities: ClassVar[frozenset[str]] = frozenset({"folders"})

    to: str = field(validator=_folder)


class MoveAction:
    """``move``: the action (see the module docstring)."""

    def __init__(self, settings: MoveSettings) -> None:
        self.settings = settings

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """Ask for the message to be moved once every step accepted it."""
        context.change_on_server(message, move_to=self.settings.to)
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
        """Refuse the run before fetching when the server cannot move or the target is missing."""
        target = self.settings.to
        if not capabilities & {"move", "copy"} or "folders" not in capabilities:
            raise refuse(
                account, pipeline, f"move: {{to: {target}}}", "cannot move messages to another folder"
            )
        if target == folder:
            raise refuse(
                account,
                pipeline,
                f"move: {{to: {target}}}",
                f"would move messages into {folder!r}, where they are",
            )
        names = [info.name for info in mailbox.folders()]
        if target not in names:
            shown = ", ".join(repr(n) for n in names[:20]) + (" ..." if len(names) > 20 else "")
            raise refuse(
                account,
                pipeline,
                f"move: {{to: {target}}}",
                f"has no folder {target!r}; create it or move to one of {shown}",
            )
