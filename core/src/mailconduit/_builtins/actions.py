"""Built-in plugin: the pipeline actions ``store`` and ``log`` (here) and the others.

``webhook``, ``forward``, ``reply``, ``move``, ``flag`` and ``run`` live in a module each.
"""

from __future__ import annotations

from mailconduit._builtins.flag import FlagAction, FlagSettings
from mailconduit._builtins.forward import ForwardAction, ForwardSettings
from mailconduit._builtins.move import MoveAction, MoveSettings
from mailconduit._builtins.reply import ReplyAction, ReplySettings
from mailconduit._builtins.run import RunAction, RunSettings
from mailconduit._builtins.webhook import WebhookAction, WebhookSettings
from mailconduit._protocols import ActionContext
from mailconduit._registering import RegisterAction
from mailconduit._types import ActionResult, StoredMessage
from mailconduit.hookspecs import hookimpl


class StoreAction:
    """``store``: keep the message in the store as a finished, received message.

    The raw bytes are already durable before any step runs; this step records that the message was
    accepted into the store, with the facts of the cheap header scan, in the batch's commit.
    """

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """Record the message as stored."""
        context.keep(message, {"stored": "yes"})
        return ActionResult(accepted=True)


class LogAction:
    """``log``: write one line per message to the account's email log."""

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """Log who sent what."""
        subject = (message.subject or "(no subject)").replace("\r", " ").replace("\n", " ")
        sender = (message.from_ or "(unknown sender)").replace("\r", " ").replace("\n", " ")
        context.log("info", f"received message {message.id} from {sender}: {subject[:200]}")
        return ActionResult(accepted=True)


@hookimpl
def register_actions(register: RegisterAction) -> None:
    """Register the built-in actions."""
    register("store", StoreAction)
    register("log", LogAction)
    register("webhook", WebhookAction, settings=WebhookSettings)
    register("forward", ForwardAction, settings=ForwardSettings)
    register("reply", ReplyAction, settings=ReplySettings)
    register("move", MoveAction, settings=MoveSettings)
    register("flag", FlagAction, settings=FlagSettings)
    register("run", RunAction, settings=RunSettings)
