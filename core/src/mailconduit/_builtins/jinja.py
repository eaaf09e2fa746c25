"""Built-in plugin: the sandboxed ``jinja2`` template engine, bounded in output size and time.

Jinja2's ``ImmutableSandboxedEnvironment`` stops attribute-based escapes but not CPU or memory
(RELIABILITY.md fact 5): ``{{ "x" * 10**9 }}`` renders a gigabyte. This engine also refuses
oversized results of ``*``, ``**``, ``+``, ``%`` and ``~`` and of filters and method calls, refuses
width arguments and format widths above the budget before they are used, checks the time budget on
every loop iteration and call, and streams the output with a size budget. ``lipsum`` is removed.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from mailconduit._errors import RenderLimitError, TemplateError
from mailconduit._registering import RegisterTemplateEngine
from mailconduit.hookspecs import hookimpl

MAX_OUTPUT_CHARS = 10 * 1024 * 1024
MAX_RENDER_SECONDS = 2.0
MAX_SEQUENCE = 1_000_000
MAX_COMPILED = 256  # compiled templates kept per engine, so rendering one template many times compiles once

# The deadline of the render in progress: per context, so engines shared by threads do not mix them.
_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("mailconduit_jinja_deadline")
_FORMAT_WIDTH = re.compile(r"[%:][^a-zA-Z%{}]*?(\d{7,})")


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
        self._compiled: dict[tuple[bool, str], Any] = {}

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

        template = self._compiled.get((autoescape, source))
        if template is None:
            try:
                template = self._environment(autoescape).from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"{name}, line {exc.lineno}: {exc.message}") from None
            if len(self._compiled) >= MAX_COMPILED:
                self._compiled.clear()
            self._compiled[(autoescape, source)] = template
        deadline = time.monotonic() + self.max_seconds
        token = _DEADLINE.set(deadline)
        pieces: list[str] = []
        size = 0
        try:
            chunks = template.generate(**dict(data))
            for chunk in chunks:
                size += len(chunk)
                problem = None
                if size > self.max_output_chars:
                    problem = f"output exceeds {self.max_output_chars} characters"
                elif time.monotonic() > deadline:
                    problem = f"rendering took longer than {self.max_seconds} s"
                if problem is not None:
                    chunks.throw(_LimitSignal(problem))  # raised where the template stands: names the line
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
        except RecursionError as exc:
            raise RenderLimitError(f"{name}{_line_of(exc)}: macros or loops nest too deeply") from None
        except Exception as exc:
            raise TemplateError(f"{name}{_line_of(exc)}: {type(exc).__name__}: {exc}") from None
        finally:
            _DEADLINE.reset(token)
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


def _check_deadline(engine: Jinja2Engine) -> None:
    if time.monotonic() > _DEADLINE.get(float("inf")):
        raise _LimitSignal(f"rendering took longer than {engine.max_seconds} s")


def _check_size(value: Any, engine: Jinja2Engine, what: str) -> Any:
    if _size(value) > engine.max_output_chars:
        raise _LimitSignal(f"{what} would exceed the output budget of {engine.max_output_chars} characters")
    return value


def _check_widths(values: Iterable[Any], engine: Jinja2Engine, what: str) -> None:
    """Refuse integer arguments and format-string widths that alone would exceed the output budget."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > engine.max_output_chars:
            raise _LimitSignal(f"{what}: argument {value} exceeds the output budget")
        if isinstance(value, str) and any(
            int(width) > engine.max_output_chars for width in _FORMAT_WIDTH.findall(value)
        ):
            raise _LimitSignal(f"{what}: a format width exceeds the output budget")


def _bounded_filter(name: str, function: Callable[..., Any], engine: Jinja2Engine) -> Callable[..., Any]:
    """Wrap a filter: its arguments (after the value) and its result are bounded, the deadline checked."""
    skip = 2 if getattr(function, "jinja_pass_arg", None) is not None else 1

    @functools.wraps(function)  # copies jinja_pass_arg, so Jinja still passes the context
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_deadline(engine)
        value = args[skip - 1] if len(args) >= skip else None
        _check_widths([*args[skip:], *kwargs.values()], engine, f"filter {name!r}")
        if name == "format":
            _check_widths([value], engine, "filter 'format'")
        return _check_size(function(*args, **kwargs), engine, f"filter {name!r}")

    return bounded


def _make_environment(autoescape: bool, engine: Jinja2Engine) -> Any:
    import jinja2
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.visitor import NodeTransformer

    def helper(name: str, argument: Any) -> Any:
        call = nodes.Call(nodes.Name(name, "load"), [argument], [], None, None)
        return call.set_lineno(argument.lineno).set_environment(argument.environment)

    class Bound(NodeTransformer):
        """Route every loop's iterable and every ``~`` concatenation through a budget check."""

        def visit_For(self, node: Any) -> Any:
            self.generic_visit(node)
            node.iter = helper("_mc_iter", node.iter)
            return node

        def visit_Concat(self, node: Any) -> Any:
            self.generic_visit(node)
            return helper("_mc_sized", node)

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def _parse(self, source: str, name: str | None, filename: str | None) -> Any:
            return Bound().visit(super()._parse(source, name, filename))

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
            elif operator == "%" and isinstance(left, str):
                _check_widths([left, *(right if isinstance(right, tuple) else (right,))], engine, "'%'")
            _check_deadline(engine)
            result = super().call_binop(context, operator, left, right)
            return _check_size(result, engine, f"the result of {operator!r}")

        def wrap_str_format(self, value: Any) -> Any:
            sandboxed = super().wrap_str_format(value)
            if sandboxed is None:
                return None
            what = f"{value.__name__}()"
            _check_widths([value.__self__], engine, what)  # '{:>1000000000}'.format(...)

            def bounded_format(*args: Any, **kwargs: Any) -> Any:
                _check_widths([*args, *kwargs.values()], engine, what)  # '{:>{w}}'.format(w=10**9)
                return _check_size(sandboxed(*args, **kwargs), engine, what)

            return bounded_format

        def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
            _check_deadline(engine)
            owner = getattr(obj, "__self__", None)
            if isinstance(owner, str):  # str methods: ljust(10**9), '{:>1000000000}'.format(...)
                _check_widths([owner, *args, *kwargs.values()], engine, f"{obj.__name__}()")
            return _check_size(super().call(context, obj, *args, **kwargs), engine, "a call")

    env = BoundedSandbox(autoescape=autoescape, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.globals.pop("lipsum", None)  # generates unbounded text in one call
    env.globals["range"] = _bounded_range
    env.globals["_mc_iter"] = functools.partial(_bounded_iter, engine=engine)
    env.globals["_mc_sized"] = functools.partial(_check_size, engine=engine, what="a '~' concatenation")
    env.filters = {name: _bounded_filter(name, f, engine) for name, f in env.filters.items()}
    return env


def _bounded_iter(iterable: Iterable[Any], *, engine: Jinja2Engine) -> Iterator[Any]:
    for item in iterable:
        _check_deadline(engine)
        yield item


def _bounded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > 10_000:
        raise _LimitSignal(f"range of {len(result)} items exceeds 10000")
    return result


@hookimpl
def register_template_engines(register: RegisterTemplateEngine) -> None:
    """Register ``jinja2``."""
    register("jinja2", Jinja2Engine)
