"""Resolve secret references in the YAML: ``${env:NAME}`` and ``${file:PATH}`` become a ``Secret``.

A value that is not a reference is taken as the secret itself. Files are read relative to the
config file's folder, with one trailing newline stripped. A reference that cannot be resolved is a
``ValueError`` naming the variable or the file, never a value; the structuring hooks report it at
the key's path. Where files are resolved from is set per load with ``resolving_from``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from mailconduit._config._errors import describe_value
from mailconduit._secret import Secret

__all__ = ["resolve_secret", "resolving_from"]

_REFERENCE = re.compile(r"^\$\{(?P<kind>[A-Za-z_]+):(?P<target>[^}]*)\}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SECRET_FILE = 1024 * 1024


class _Scope:
    def __init__(self, base: Path, environ: Mapping[str, str]) -> None:
        self.base = base
        self.environ = environ


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "mailconduit_secret_scope", default=None
)


@contextlib.contextmanager
def resolving_from(base: Path, environ: Mapping[str, str] | None = None) -> Iterator[None]:
    """Resolve ``${file:...}`` relative to ``base`` and ``${env:...}`` in ``environ`` inside the block."""
    token = _SCOPE.set(_Scope(base, os.environ if environ is None else environ))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _scope() -> _Scope:
    return _SCOPE.get() or _Scope(Path.cwd(), os.environ)


def resolve_secret(value: object) -> Secret:
    """Turn a YAML value into a ``Secret``: plain text, ``${env:NAME}`` or ``${file:PATH}``.

    Raises:
        ValueError: not text, or a reference that cannot be resolved; the text never holds the value.
    """
    if not isinstance(value, str):
        shown = describe_value(value, secret=True)
        raise ValueError(f"expected text or a reference ${{env:NAME}} / ${{file:PATH}}, got {shown}")
    match = _REFERENCE.match(value.strip())
    if match is None:
        if value.strip().startswith("${") and value.strip().endswith("}"):
            raise ValueError("malformed secret reference; write ${env:NAME} or ${file:PATH}")
        return Secret(value)
    kind, target = match.group("kind"), match.group("target").strip()
    if kind == "env":
        return _from_env(target)
    if kind == "file":
        return _from_file(target)
    raise ValueError(f"unknown secret reference kind {kind!r}; write ${{env:NAME}} or ${{file:PATH}}")


def _from_env(name: str) -> Secret:
    if not _ENV_NAME.match(name):
        raise ValueError(f"${{env:{name}}} is not a valid environment variable name")
    environ = _scope().environ
    if name not in environ:
        raise ValueError(f"environment variable {name} is not set; set it or change the reference")
    if not environ[name]:
        raise ValueError(f"environment variable {name} is empty; set it or change the reference")
    return Secret(environ[name], source=f"env:{name}")


def _from_file(target: str) -> Secret:
    if not target:
        raise ValueError("${file:} names no file; write ${file:PATH}")
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = _scope().base / path
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SECRET_FILE + 1)
    except FileNotFoundError:
        raise ValueError(f"secret file {target} not found (looked at {path})") from None
    except IsADirectoryError:
        raise ValueError(f"secret file {target} is a directory (looked at {path})") from None
    except OSError as exc:
        raise ValueError(f"secret file {target} cannot be read ({path}): {exc.strerror}") from None
    if len(data) > MAX_SECRET_FILE:
        raise ValueError(
            f"secret file {target} is larger than {MAX_SECRET_FILE} bytes; is it the right file?"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"secret file {target} is not UTF-8 text ({path})") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise ValueError(f"secret file {target} is empty ({path})")
    return Secret(text, source=f"file:{target}")
