"""Built-in plugin: the sandboxed ``jinja2`` template engine, bounded in output size and time.

Jinja2's ``ImmutableSandboxedEnvironment`` stops attribute-based escapes but not CPU or memory
(RELIABILITY.md fact 5): ``{{ "x" * 10**9 }}`` renders a gigabyte. This engine also refuses
oversized results of ``*``, ``**`` and ``+`` before they are built, streams the output and stops at a
size budget, and checks a time budget while rendering.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mailconduit._errors import RenderLimitError, TemplateError
from mailconduit._registering import RegisterTemplateEngine
from mailconduit.hookspecs import hookimpl

MAX_OUTPUT_CHARS = 10 * 1024 * 1024
MAX_RENDER_SECONDS = 2.0
MAX_SEQUENCE = 1_000_000


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


class Jinja2Engine:
    """Renders Jinja2 source in an immutable sandbox with strict undefined placeholders.

    Attributes:
        max_output_chars: the output budget; a larger render fails with ``RenderLimitError``.
        max_seconds: the time budget, checked between output chunks and inside loops.
    """

    def __init__(
        self, max_output_chars: int = MAX_OUTPUT_CHARS, max_seconds: float = MAX_RENDER_SECONDS
    ) -> None:
        self.max_output_chars = max_output_chars
        self.max_seconds = max_seconds
        self._environments: dict[bool, Any] = {}

    def _environment(self, autoescape: bool) -> Any:
        env = self._environments.get(autoescape)
        if env is None:
            env = _make_environment(autoescape, self)
            self._environments[autoescape] = env
        return env

    def render(self, source: str, data: Mapping[str, Any], *, name: str, autoescape: bool) -> str:
        """Render ``source`` with ``data``; errors name ``name`` and the line."""
        import jinja2
        from jinja2.exceptions import SecurityError

        env = self._environment(autoescape)
        try:
            template = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{name}, line {exc.lineno}: {exc.message}") from None
        deadline = time.monotonic() + self.max_seconds
        env.globals["_mc_deadline"] = deadline
        pieces: list[str] = []
        size = 0
        try:
            for chunk in template.generate(**dict(data)):
                size += len(chunk)
                if size > self.max_output_chars:
                    raise RenderLimitError(f"{name}: output exceeds {self.max_output_chars} characters")
                if time.monotonic() > deadline:
                    raise RenderLimitError(f"{name}: rendering took longer than {self.max_seconds} s")
                pieces.append(chunk)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{name}{_line_of(exc)}: missing placeholder: {exc.message}") from None
        except SecurityError as exc:
            raise TemplateError(f"{name}{_line_of(exc)}: refused by the sandbox: {exc}") from None
        except RenderLimitError:
            raise
        except _LimitSignal as exc:
            raise RenderLimitError(f"{name}{_line_of(exc)}: {exc}") from None
        except TemplateError:
            raise
        except Exception as exc:
            raise TemplateError(f"{name}{_line_of(exc)}: {type(exc).__name__}: {exc}") from None
        return "".join(pieces)


class _LimitSignal(Exception):
    pass


def _line_of(exc: BaseException) -> str:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return f", line {line}" if line else ""


def _make_environment(autoescape: bool, engine: Jinja2Engine) -> Any:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**":
                if isinstance(right, int) and abs(right) > 64:
                    raise _LimitSignal(f"exponent {right} is too large")
            elif operator == "*":
                count = right if isinstance(right, int) else left if isinstance(left, int) else 1
                item = _size(left) if isinstance(right, int) else _size(right)
                if item * abs(count) > engine.max_output_chars:
                    raise _LimitSignal("a repeated string or list would exceed the output budget")
            elif operator == "+" and _size(left) + _size(right) > engine.max_output_chars:
                raise _LimitSignal("a concatenation would exceed the output budget")
            if time.monotonic() > context.environment.globals.get("_mc_deadline", float("inf")):
                raise _LimitSignal(f"rendering took longer than {engine.max_seconds} s")
            return super().call_binop(context, operator, left, right)

        def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
            if time.monotonic() > context.environment.globals.get("_mc_deadline", float("inf")):
                raise _LimitSignal(f"rendering took longer than {engine.max_seconds} s")
            return super().call(context, obj, *args, **kwargs)

    env = BoundedSandbox(autoescape=autoescape, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.globals["range"] = _bounded_range
    return env


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > 10_000:
        raise _LimitSignal(f"range of {len(result)} items exceeds 10000")
    return result


@hookimpl
def register_template_engines(register: RegisterTemplateEngine) -> None:
    """Register ``jinja2``."""
    register("jinja2", Jinja2Engine)
