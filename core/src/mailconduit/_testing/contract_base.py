"""Shared pieces of the contract suites: the failure for a fixture a subclass forgot to define."""

from __future__ import annotations

from typing import NoReturn

import pytest

__all__ = ["missing_fixture"]


def missing_fixture(name: str, what: str) -> NoReturn:
    """Fail the test because the contract subclass did not override fixture ``name``.

    Args:
        name: the fixture the suite needs.
        what: what it must return.
    """
    pytest.fail(
        f"the contract suite needs a {name!r} fixture returning {what}. "
        f"How to fix: define `@pytest.fixture def {name}(self, ...)` in your subclass.",
        pytrace=False,
    )
