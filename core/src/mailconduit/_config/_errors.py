"""Config problems as ``(path, message)`` pairs: our ``transform_error``, adapted from cattrs.

cattrs' own ``transform_error`` flattens nested errors to ``message @ $.path`` and replaces a
validator's text with "invalid value for type". Ours walks the same exception groups (the notes
name the attribute, list index or mapping key) and keeps every leaf's own text, so a message reads
``accounts.support.receive.port: must be between 1 and 65535, got 99999``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

__all__ = [
    "PathPart",
    "Problem",
    "at_attribute",
    "at_index",
    "describe_value",
    "render_path",
    "transform_error",
    "unknown_key",
]

PathPart = str | int


class Problem(ValueError):
    """A leaf problem whose message is final; ``at`` extends the path below where it was raised."""

    def __init__(self, message: str, *, at: Sequence[PathPart] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.at = tuple(at)


def at_attribute(exc: Exception, name: str, type_: object = None) -> Exception:
    """Note on ``exc`` that it happened in attribute (or mapping key) ``name``; returns ``exc``."""
    exc.add_note(AttributeValidationNote(f"Structuring {name}", name, type_))
    return exc


def at_index(exc: Exception, index: int | str, type_: object = None) -> Exception:
    """Note on ``exc`` that it happened at list index or mapping key ``index``; returns ``exc``."""
    exc.add_note(IterableValidationNote(f"Structuring @ {index!r}", index, type_))
    return exc


def render_path(parts: Sequence[PathPart]) -> str:
    """``("accounts", "support", "port")`` -> ``accounts.support.port``; ints become ``[i]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def describe_value(value: object, *, secret: bool = False) -> str:
    """Show a YAML value in a message: ``'abc'``, ``99999``, ``true``, ``null``, ``a list``.

    With ``secret=True`` only the kind is shown, never the value.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false" if secret else str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if secret:
        return "a number" if isinstance(value, int | float) else f"a {type(value).__name__}"
    if isinstance(value, str):
        shown = value if len(value) <= 80 else value[:77] + "..."
        return repr(shown)
    return str(value)


def unknown_key(key: str, allowed: Sequence[str], extra_note: str = "") -> Problem:
    """The problem for a key nobody knows: the closest allowed key, then every allowed key."""
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1) or [a for a in allowed if a.startswith(key)][:1]
    hint = f"did you mean {close[0]!r}? " if close and len(key) >= 2 else ""
    return Problem(f"unknown key; {hint}allowed: {', '.join(allowed)}{extra_note}")


# attrs' stock validator texts, rewritten to "must be ..., got ..." without the attribute's name
_ATTRS_BOUND = re.compile(r"^'(?P<name>\w+)' must be (?P<op>[<>]=?) (?P<bound>.+): (?P<value>.+)$", re.S)
_ATTRS_LENGTH = re.compile(
    r"^Length of '(?P<name>\w+)' must be (?P<op>[<>]=?) (?P<bound>\d+): (?P<value>\d+)$"
)
_ATTRS_IN = re.compile(r"^'(?P<name>\w+)' must be in (?P<options>.+) \(got (?P<value>.+)\)$", re.S)


def clean_validator_text(text: str) -> str:
    """Turn attrs' ``'port' must be >= 1: 0`` into ``must be >= 1, got 0``; other text is kept."""
    if match := _ATTRS_LENGTH.match(text):
        if match["op"] == ">=" and match["bound"] == "1" and match["value"] == "0":
            return "must not be empty"
        return f"length must be {match['op']} {match['bound']}, got {match['value']}"
    if match := _ATTRS_BOUND.match(text):
        return f"must be {match['op']} {match['bound']}, got {match['value']}"
    if match := _ATTRS_IN.match(text):
        return f"must be one of {match['options']}, got {match['value']}"
    return text


def _leaf_message(exc: BaseException) -> str:
    if isinstance(exc, Problem):
        return exc.message
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown keys: {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return "is required (missing)"
    if isinstance(exc, ValueError | TypeError):
        text = str(exc.args[0]) if exc.args else type(exc).__name__
        return clean_validator_text(text)
    return f"{type(exc).__name__}: {exc}"


def _walk(exc: BaseException, path: tuple[PathPart, ...], out: list[tuple[str, str]]) -> None:
    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            part: PathPart
            if isinstance(note, AttributeValidationNote):
                part = note.name
            else:
                part = note.index if isinstance(note.index, int) else str(note.index)
            _walk(sub, (*path, part), out)
        for sub in without:
            _walk(sub, path, out)
        return
    if isinstance(exc, Problem):
        path = (*path, *exc.at)
    out.append((render_path(path), _leaf_message(exc)))


def transform_error(exc: BaseException, path: Sequence[PathPart] = ()) -> list[tuple[str, str]]:
    """Flatten a structuring error into ``(path, message)`` pairs, in the order they were found.

    Args:
        exc: a ``ClassValidationError`` / ``IterableValidationError`` tree, or a single exception.
        path: the path of the value the error belongs to (empty for the root).

    Returns:
        One pair per leaf problem; messages keep the validators' own text.
    """
    out: list[tuple[str, str]] = []
    _walk(exc, tuple(path), out)
    return out
