"""Our `transform_error`: (path, message) pairs that keep the validators' own text."""

from __future__ import annotations

from cattrs.errors import ClassValidationError, IterableValidationError

from mailconduit._config import transform_error
from mailconduit._config._errors import Problem, at_attribute, at_index, clean_validator_text, render_path


def test_paths_from_notes_and_problem_suffixes() -> None:
    leaf = at_attribute(ValueError("must be between 1 and 65535, got 99999"), "port")
    send = at_attribute(ClassValidationError("send", [leaf], object), "send")
    step = at_index(Problem("unknown pipeline action 'x'", at=("name",)), 2)
    steps = at_attribute(IterableValidationError("steps", [step], list), "steps")
    account = at_index(ClassValidationError("account", [send, steps], object), "support")
    root = ClassValidationError(
        "root", [at_attribute(IterableValidationError("accounts", [account], dict), "accounts")], object
    )
    assert transform_error(root) == [
        ("accounts.support.send.port", "must be between 1 and 65535, got 99999"),
        ("accounts.support.steps[2].name", "unknown pipeline action 'x'"),
    ]


def test_a_lone_exception_and_a_root_problem() -> None:
    assert transform_error(KeyError("x"), ["runner"]) == [("runner", "is required (missing)")]
    assert transform_error(Problem("top")) == [("", "top")]


def test_attrs_validator_texts_are_rewritten_without_the_attribute_name() -> None:
    assert clean_validator_text("'max_attempts' must be >= 1: 0") == "must be >= 1, got 0"
    assert clean_validator_text("'max_sessions' must be <= 64: 65") == "must be <= 64, got 65"
    assert clean_validator_text("Length of 'host' must be >= 1: 0") == "must not be empty"
    assert clean_validator_text("Length of 'x' must be <= 3: 5") == "length must be <= 3, got 5"
    assert (
        clean_validator_text("'level' must be in ['a', 'b'] (got 'c')")
        == "must be one of ['a', 'b'], got 'c'"
    )
    assert (
        clean_validator_text("must be a positive duration, got 0:00:00")
        == "must be a positive duration, got 0:00:00"
    )


def test_render_path() -> None:
    assert render_path(["accounts", "a", "steps", 0, "webhook"]) == "accounts.a.steps[0].webhook"
    assert render_path([]) == ""
