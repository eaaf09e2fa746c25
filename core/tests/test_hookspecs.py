"""The hook specifications: exactly the eleven of DESIGN.md, each documented with every argument."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest

from mailconduit import hookspecs

DESIGN_HOOKS = {
    "register_transports",
    "register_authenticators",
    "register_config_sections",
    "register_actions",
    "register_template_engines",
    "register_commands",
    "message_transforms",
    "recipient_certificates",
    "after_batch_stored",
    "after_run_completed",
    "on_run_error",
}


def specs() -> dict[str, Callable[..., Any]]:
    return {
        name: obj
        for name, obj in vars(hookspecs).items()
        if callable(obj) and hasattr(obj, f"{hookspecs.PROJECT_NAME}_spec")
    }


def test_exactly_the_eleven_hooks_of_the_design() -> None:
    assert set(specs()) == DESIGN_HOOKS
    assert set(hookspecs.__all__) >= DESIGN_HOOKS


def test_spec_names_follow_the_three_families() -> None:
    pattern = re.compile(r"^(register_[a-z_]+s|[a-z_]+|after_[a-z]+_[a-z]+ed|on_[a-z]+_error)$")
    lifecycle = {n for n in DESIGN_HOOKS if n.startswith(("after_", "on_"))}
    assert all(pattern.match(n) for n in DESIGN_HOOKS)
    assert lifecycle == {"after_batch_stored", "after_run_completed", "on_run_error"}


@pytest.mark.parametrize("name", sorted(DESIGN_HOOKS))
def test_spec_docstring_has_an_args_entry_for_every_argument(name: str) -> None:
    spec = specs()[name]
    doc = inspect.getdoc(spec) or ""
    assert doc.strip(), f"{name} has no docstring"
    assert "\nArgs:\n" in doc, f"{name}: docstring lacks an Args: section"
    args_section = doc.split("\nArgs:\n", 1)[1]
    for argument in inspect.signature(spec).parameters:
        assert re.search(rf"^\s+{argument}:", args_section, re.MULTILINE), (
            f"{name}: no Args entry for {argument}"
        )


@pytest.mark.parametrize("name", sorted(DESIGN_HOOKS))
def test_spec_arguments_are_annotated(name: str) -> None:
    parameters = inspect.signature(specs()[name]).parameters.values()
    assert all(p.annotation is not inspect.Parameter.empty for p in parameters)


def test_hookspecs_imports_types_only_for_type_checking() -> None:
    """Like pytest's hookspec module: at run time it needs pluggy and the standard library only."""
    import ast

    tree = ast.parse(inspect.getsource(hookspecs))
    runtime: list[str] = []
    for node in tree.body:  # module level only; the TYPE_CHECKING block is an ``if``
        if isinstance(node, ast.ImportFrom):
            runtime.append(node.module or "")
        elif isinstance(node, ast.Import):
            runtime.extend(alias.name for alias in node.names)
    assert sorted(runtime) == ["__future__", "collections.abc", "pluggy", "typing"]
