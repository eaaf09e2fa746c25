"""Strict structuring hooks for the config's value types: scalars, units, lists, mappings and unions.

cattrs' stock hooks are lenient where a config must be strict: ``int("5")``, ``bool("no")``, a
string iterated as a list. These refuse a wrong type with the expected type and the value given
(``expected a whole number, got 'fifty'``), parse the YAML's units (``20s``, ``100MB``, ``30/min``),
resolve secret references, and note each failing list index or mapping key for the error path.
"""

from __future__ import annotations

import collections.abc
import enum
import types
import typing
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError

from mailconduit._config._errors import Problem, at_index, describe_value
from mailconduit._config._secrets import resolve_secret
from mailconduit._config._structure import structure_attrs
from mailconduit._config._units import parse_duration, parse_rate
from mailconduit._model import AfterReplication, MoveTo, RateLimit
from mailconduit._secret import Secret

__all__ = ["install_strict_hooks"]

_NONE_TYPE = type(None)
_LISTS = (list, collections.abc.Sequence, collections.abc.MutableSequence)
_SETS = (set, frozenset, collections.abc.Set, collections.abc.MutableSet)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


# ---------------------------------------------------------------------------------------- scalars
def _scalar(value: Any, cl: Any) -> Any:
    if isinstance(cl, type) and issubclass(cl, enum.Enum):
        return _enum(value, cl)
    if cl is bool:
        if isinstance(value, bool):
            return value
        raise Problem(f"expected true or false, got {describe_value(value)}")
    if cl is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise Problem(f"expected a whole number, got {describe_value(value)}")
    if cl is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise Problem(f"expected a number, got {describe_value(value)}")
    if cl is str:
        if isinstance(value, str):
            return value
        hint = " (quote it in the YAML)" if isinstance(value, int | float | bool) else ""
        raise Problem(f"expected text, got {describe_value(value)}{hint}")
    if cl is Path:
        if isinstance(value, str) and value:
            return Path(value)
        raise Problem(f"expected a path, got {describe_value(value)}")
    if cl is bytes:
        if isinstance(value, str):
            return value.encode("utf-8")
        raise Problem(f"expected text, got {describe_value(value)}")
    return cl(value)


def _enum(value: Any, cl: type[enum.Enum]) -> Any:
    for member in cl:
        if member.value == value and isinstance(value, bool) == isinstance(member.value, bool):
            return member
    choices = ", ".join(str(m.value) for m in cl)
    raise Problem(f"expected one of {choices}, got {describe_value(value)}")


def _duration(value: Any, _cl: Any) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise Problem(str(exc)) from None


def _rate(value: Any, _cl: Any) -> RateLimit:
    try:
        return parse_rate(value)
    except ValueError as exc:
        raise Problem(str(exc)) from None


def _secret(value: Any, _cl: Any) -> Secret:
    try:
        return resolve_secret(value)
    except ValueError as exc:
        raise Problem(str(exc)) from None


def _move_to(value: Any) -> MoveTo:
    if isinstance(value, dict) and list(value) == ["move_to"]:
        folder = value["move_to"]
        if isinstance(folder, str) and folder:
            return MoveTo(folder)
        raise Problem(f"expected a folder name, got {describe_value(folder)}", at=("move_to",))
    if isinstance(value, dict):
        unknown = sorted(str(k) for k in value if k != "move_to") or ["(none)"]
        raise Problem(f"expected {{move_to: FOLDER}}, got the keys {', '.join(unknown)}")
    raise Problem(f"expected none, delete or {{move_to: FOLDER}}, got {describe_value(value)}")


def _after_replication(value: Any) -> AfterReplication | MoveTo:
    if isinstance(value, str):
        try:
            return AfterReplication(value)
        except ValueError:
            pass
    return _move_to(value)


# ---------------------------------------------------------------------------------- containers
def _origin(t: Any) -> Any:
    return typing.get_origin(t)


def _is_union(t: Any) -> bool:
    return _origin(t) in (typing.Union, types.UnionType)


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def _make_union_hook(converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    def hook(value: Any, t: Any) -> Any:
        args = typing.get_args(t)
        if value is None and _NONE_TYPE in args:
            return None
        members = [a for a in args if a is not _NONE_TYPE]
        if set(members) == {AfterReplication, MoveTo}:
            return _after_replication(value)
        if len(members) == 1:
            return converter.structure(value, members[0])
        failures: list[Exception] = []
        for member in members:
            try:
                return converter.structure(value, member)
            except Exception as exc:
                failures.append(exc)
        shaped = [
            (m, e) for m, e in zip(members, failures, strict=True) if isinstance(e, ClassValidationError)
        ]
        if len(shaped) == 1 and isinstance(value, dict):
            raise shaped[0][1]
        names = " or ".join(_type_name(m) for m in members)
        raise Problem(f"expected {names}, got {describe_value(value)}")

    return hook


def _make_list_hook(converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    def hook(value: Any, t: Any) -> Any:
        if not isinstance(value, list):
            raise Problem(f"expected a list, got {describe_value(value)}")
        args = typing.get_args(t)
        item_type = args[0] if args else Any
        items: list[Any] = []
        errors: list[Exception] = []
        for index, raw in enumerate(value):
            try:
                items.append(converter.structure(raw, item_type))
            except Exception as exc:
                errors.append(at_index(exc, index, item_type))
        if errors:
            raise IterableValidationError(f"While structuring {t!r}", errors, t)
        origin = _origin(t) or t
        if origin is tuple:
            return tuple(items)
        if origin in _SETS:
            return frozenset(items) if origin is frozenset else set(items)
        return items

    return hook


def _make_dict_hook(converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    def hook(value: Any, t: Any) -> Any:
        if not isinstance(value, dict):
            raise Problem(f"expected a mapping, got {describe_value(value)}")
        args = typing.get_args(t)
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        result: dict[Any, Any] = {}
        errors: list[Exception] = []
        for key, raw in value.items():
            if key_type is str and not isinstance(key, str):
                errors.append(Problem(f"keys must be text, got {describe_value(key)}"))
                continue
            try:
                result[key] = converter.structure(raw, value_type)
            except Exception as exc:
                errors.append(at_index(exc, str(key), value_type))
        if errors:
            raise IterableValidationError(f"While structuring {t!r}", errors, t)
        return result

    return hook


def _literal(value: Any, t: Any) -> Any:
    choices = typing.get_args(t)
    for choice in choices:
        if choice == value and type(choice) is type(value):
            return choice
    raise Problem(f"expected one of {', '.join(str(c) for c in choices)}, got {describe_value(value)}")


def install_strict_hooks(converter: cattrs.Converter) -> None:
    """Register the strict hooks on ``converter``; later registrations (tagged unions) win over these.

    cattrs tries predicate hooks newest first, so the general attrs hook goes in first and the
    specific classes (``RateLimit``, ``MoveTo``) after it.
    """
    converter.register_structure_hook_func(attrs.has, lambda value, cl: structure_attrs(converter, cl, value))
    for scalar in (str, int, float, bool, bytes, Path, enum.Enum):
        converter.register_structure_hook(scalar, _scalar)
    converter.register_structure_hook(timedelta, _duration)
    converter.register_structure_hook(Secret, _secret)
    converter.register_structure_hook_func(lambda t: t is RateLimit, _rate)
    converter.register_structure_hook_func(lambda t: t is MoveTo, lambda v, _t: _move_to(v))
    converter.register_structure_hook_func(lambda t: _origin(t) is typing.Literal, _literal)
    converter.register_structure_hook_func(
        lambda t: t in _LISTS or _origin(t) in _LISTS or _origin(t) in _SETS or _is_homogeneous_tuple(t),
        _make_list_hook(converter),
    )
    converter.register_structure_hook_func(
        lambda t: t in _MAPPINGS or _origin(t) in _MAPPINGS, _make_dict_hook(converter)
    )
    converter.register_structure_hook_func(_is_union, _make_union_hook(converter))


def _is_homogeneous_tuple(t: Any) -> bool:
    args = typing.get_args(t)
    return _origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis
