"""Structure a YAML mapping into an attrs class field by field, collecting every problem.

cattrs' generated attrs hooks run the validators only inside ``__init__``, so the first failing
field hides the others and its text is lost. Here each field is structured and validated on its
own (ten mistakes give ten messages), unknown and missing keys are named, and each problem carries
an exception note naming its key; ``_errors.transform_error`` turns the notes into the path.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError

from mailconduit._config._errors import (
    Problem,
    at_attribute,
    clean_validator_text,
    describe_value,
    unknown_key,
)
from mailconduit._config._units import parse_size

__all__ = [
    "FieldCheck",
    "build_attrs",
    "parse_size_or_problem",
    "structure_attrs",
    "structure_fields",
]

FieldCheck = Callable[[Any], None]


class _Unbuilt:
    """Stands in for the instance when a field validator runs before the class is built."""


@functools.cache
def _hints(cl: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cl)
    except Exception:  # names only importable under TYPE_CHECKING: fall back to attrs' own types
        return {}


def _key(field: attrs.Attribute[Any]) -> str:
    """The YAML key of a field: its init alias (attrs drops a leading underscore)."""
    return field.alias or field.name


def _is_size(field: attrs.Attribute[Any], hint: Any) -> bool:
    return hint is int and (field.metadata.get("unit") == "size" or field.name.endswith("_size"))


def structure_fields(
    converter: cattrs.Converter,
    cl: type,
    value: Any,
    *,
    given: Mapping[str, Any] | None = None,
    exclude: tuple[str, ...] = (),
    checks: Mapping[str, FieldCheck] | None = None,
    extra: Callable[[str, Any], None] | None = None,
    extra_note: str = "",
) -> tuple[dict[str, Any], list[Exception]]:
    """Structure each key of the mapping ``value`` as the matching field of the attrs class ``cl``.

    Args:
        converter: structures each field's value by its type.
        cl: the attrs class.
        value: the YAML mapping.
        given: field values set by the caller (an account's ``name`` from its key), not from YAML.
        exclude: fields the YAML may not set (filled by the caller).
        checks: extra per-field checks run on the structured value (raise ``ValueError``).
        extra: called as ``extra(key, raw)`` for a key that is not a field (it keeps what it makes,
            or raises). Without it, unknown keys are problems.
        extra_note: appended to the "unknown key" message (what else would be allowed).

    Returns:
        The init keyword arguments that structured, and one exception per problem, each noted with
        its key (``transform_error`` turns the notes into the path).

    Raises:
        Problem: ``value`` is not a mapping.
    """
    if not isinstance(value, dict):
        raise Problem(f"expected a mapping, got {describe_value(value)}")
    given = dict(given or {})
    hints = _hints(cl)
    fields = {
        _key(f): f for f in attrs.fields(cl) if f.init and _key(f) not in given and _key(f) not in exclude
    }
    errors: list[Exception] = []
    kwargs: dict[str, Any] = dict(given)
    for key, raw in value.items():
        if not isinstance(key, str):
            errors.append(Problem(f"keys must be text, got {describe_value(key)}"))
            continue
        field = fields.get(key)
        if field is None:
            try:
                if extra is None:
                    raise unknown_key(key, sorted(fields), extra_note)
                extra(key, raw)
            except Exception as exc:
                errors.append(at_attribute(exc, key))
            continue
        try:
            kwargs[key] = _structure_field(converter, field, hints.get(field.name, field.type), raw, checks)
        except Exception as exc:
            errors.append(at_attribute(exc, key))
    for key, field in fields.items():
        if key not in value and field.default is attrs.NOTHING:
            errors.append(at_attribute(Problem("is required (missing)"), key))
    return kwargs, errors


def _structure_field(
    converter: cattrs.Converter,
    field: attrs.Attribute[Any],
    hint: Any,
    raw: Any,
    checks: Mapping[str, FieldCheck] | None,
) -> Any:
    structured = parse_size_or_problem(raw) if _is_size(field, hint) else converter.structure(raw, hint)
    if field.validator is not None:
        try:
            field.validator(_Unbuilt(), field, structured)
        except (ValueError, TypeError) as exc:
            raise Problem(clean_validator_text(str(exc.args[0]) if exc.args else str(exc))) from None
        except Exception:  # noqa: S110 - a validator that needs the built instance; __init__ runs it
            pass
    if checks and _key(field) in checks:
        checks[_key(field)](structured)
    return structured


def parse_size_or_problem(value: Any) -> int:
    """``parse_size`` whose refusal is a ``Problem``."""
    try:
        return parse_size(value)
    except ValueError as exc:
        raise Problem(str(exc)) from None


def structure_attrs(converter: cattrs.Converter, cl: type, value: Any, **options: Any) -> Any:
    """Structure the mapping ``value`` into the attrs class ``cl``, collecting every problem.

    ``options`` are those of ``structure_fields``.

    Raises:
        ClassValidationError: one or more fields failed; each carries a note naming its key.
        Problem: ``value`` is not a mapping, or the class refused the combination of values.
    """
    kwargs, errors = structure_fields(converter, cl, value, **options)
    if errors:
        raise ClassValidationError(f"While structuring {cl.__name__}", errors, cl)
    return build_attrs(cl, kwargs)


def build_attrs(cl: type, kwargs: dict[str, Any]) -> Any:
    """Build ``cl(**kwargs)``; a refusal by ``__init__`` or ``__attrs_post_init__`` becomes a ``Problem``."""
    try:
        return cl(**kwargs)
    except (ValueError, TypeError) as exc:
        raise Problem(clean_validator_text(str(exc.args[0]) if exc.args else str(exc))) from None
