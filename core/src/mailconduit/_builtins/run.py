"""Built-in action ``run``: call a Python callable, named by its dotted path, as a pipeline step.

::

    - run: {callable: "myapp.mail:file_invoice"}

The callable is imported when the configuration is loaded, so a missing module or name is a
configuration error naming the path. It is called as an ``Action``: ``callable(message, context)``
returning an ``ActionResult``. A class is instantiated first (without arguments), so
``"myapp.mail:InvoiceFiler"`` works for a class whose instances are actions.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from attrs import define, field

from mailconduit._protocols import Action, ActionContext
from mailconduit._types import ActionResult, StoredMessage

__all__ = ["RunAction", "RunSettings", "import_callable"]

_PATH = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
)


def import_callable(path: str) -> Any:
    """Import ``package.module:name`` (``name`` may be dotted: ``Class.method``).

    Raises:
        ValueError: not such a path, the module cannot be imported, the name is missing or not callable.
    """
    if not isinstance(path, str) or not _PATH.match(path):
        raise ValueError(f"expected 'package.module:function', got {path!r}")
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} for {path!r}: {exc}") from None
    except Exception as exc:
        raise ValueError(
            f"importing module {module_name!r} for {path!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"module {module_name!r} has no {attribute!r} (looking for {path!r})")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{path!r} is a {type(target).__name__}, not a callable")
    return target


def _importable(_instance: Any, _attribute: Any, value: str) -> None:
    import_callable(value)


@define(frozen=True, kw_only=True)
class RunSettings:
    """``run:`` settings: ``callable``, the dotted path ``package.module:function``."""

    callable: str = field(validator=_importable)


class RunAction:
    """``run``: the action (see the module docstring)."""

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        target = import_callable(settings.callable)
        self._action: Action = target() if isinstance(target, type) else target

    def __repr__(self) -> str:
        return f"RunAction({self.settings.callable!r})"

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """Call the callable; anything but an ``ActionResult`` back fails the step."""
        result = self._action(message, context)
        if not isinstance(result, ActionResult):
            raise TypeError(
                f"{self.settings.callable} returned {type(result).__name__}, not an ActionResult; "
                "return ActionResult(accepted=True) to accept the message"
            )
        return result
