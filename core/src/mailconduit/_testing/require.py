"""Skip-or-fail for tests that need a real server: under CI a missing server is a failure."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["missing_server", "servers_required"]


def servers_required() -> bool:
    """True when a missing real server must fail the test.

    That is under ``CI=true`` or ``MAILCONDUIT_REQUIRE_SERVERS=1``.
    """
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("MAILCONDUIT_REQUIRE_SERVERS") == "1"


def missing_server(what: str, how_to_install: str) -> NoReturn:
    """Skip the test because ``what`` is missing, or fail it when servers are required.

    Args:
        what: the server or tool that is missing (``dovecot``).
        how_to_install: the command that installs it (``apt-get install dovecot-imapd``).
    """
    message = f"{what} is not available: {how_to_install}"
    if servers_required():
        pytest.fail(
            f"{message} (servers are required: CI=true or MAILCONDUIT_REQUIRE_SERVERS=1)", pytrace=False
        )
    pytest.skip(message)
