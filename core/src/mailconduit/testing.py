"""Public test support for mailconduit and its plugins: contract suites and opt-in real-server fixtures.

Contract suites are base classes: subclass the one for what your plugin provides and name the
thing under test; the suite's tests run against it. Real-server fixtures (Dovecot, aiosmtpd,
PostgreSQL, a fault proxy, a scriptable hostile server) are opt-in; enable them in a conftest.py::

    pytest_plugins = ["mailconduit.testing"]

Under ``CI=true`` or ``MAILCONDUIT_REQUIRE_SERVERS=1`` a fixture whose server is missing fails the
test instead of skipping it.
"""

from __future__ import annotations

from mailconduit._builtins.memory import MemoryReceiveSettings, MemorySendSettings, MemoryServer, SentMail
from mailconduit._testing import contracts as _contracts
from mailconduit._testing import postgres as _postgres
from mailconduit._testing import servers as _servers
from mailconduit._testing.canaries import canary, find_canaries, known_canaries
from mailconduit._testing.contracts import *  # noqa: F403
from mailconduit._testing.postgres import *  # noqa: F403
from mailconduit._testing.recording import QueuedMail, RecordingContext, ServerChange
from mailconduit._testing.require import missing_server, servers_required
from mailconduit._testing.servers import *  # noqa: F403
from mailconduit._testing.stored import stored_digests

__all__ = [
    "MemoryReceiveSettings",
    "MemorySendSettings",
    "MemoryServer",
    "QueuedMail",
    "RecordingContext",
    "SentMail",
    "ServerChange",
    "canary",
    "find_canaries",
    "known_canaries",
    "missing_server",
    "servers_required",
    "stored_digests",
]
__all__ += _contracts.__all__ + _postgres.__all__ + _servers.__all__
