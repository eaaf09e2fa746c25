"""Check a receive account through the ``Mailbox`` protocol when its transport has no ``probe`` of its own.

Opens the mailbox (connect, TLS, login), reads its capabilities, folder count and the configured
folder's state, checks the account's after-replication action and IDLE wish against the
capabilities, and closes it. Nothing is fetched, marked or deleted. A failure is diagnosed into a
``problem`` key (``mailconduit.diagnose_connection``'s, as the smtp plugin's probe) and the error's
text, never raised.
"""

from __future__ import annotations

from typing import Any

from mailconduit._connection_errors import CONNECTION_PROBLEMS
from mailconduit._connection_errors import diagnose_connection as diagnose
from mailconduit._errors import MailconduitError
from mailconduit._model import Account, AfterReplication, MoveTo
from mailconduit._protocols import Mailbox, ReceiveTransport
from mailconduit._types import Credentials

__all__ = ["PROBLEMS", "diagnose", "probe_mailbox"]

PROBLEMS = {
    **CONNECTION_PROBLEMS,
    "config": "the account's receive settings are incomplete or invalid",
    "unsupported": "the server lacks what the account's settings need",
}
"""Every ``problem`` key :func:`probe_mailbox` can report (:func:`diagnose`'s and ``unsupported``)."""


def _unsupported(account: Account, capabilities: frozenset[str]) -> str | None:
    """What the account's settings need that the mailbox cannot do, or None."""
    settings = account.receive
    assert settings is not None
    action = settings.after_replication
    where = f"accounts.{account.name}.receive.after_replication"
    if action is AfterReplication.DELETE and "delete" not in capabilities:
        return f"{where} is delete, but the server cannot delete single messages (IMAP UIDPLUS, POP3 UIDL)"
    if isinstance(action, MoveTo) and "move" not in capabilities and not {"copy", "delete"} <= capabilities:
        return f"{where} moves to {action.folder!r}, but the server can neither MOVE nor COPY and delete"
    return None


def _explore(mailbox: Mailbox, account: Account, report: dict[str, Any]) -> None:
    settings = account.receive
    assert settings is not None
    capabilities = mailbox.capabilities()
    report["capabilities"] = sorted(capabilities)
    report["folders"] = len(mailbox.folders())
    folder = settings.effective_folder
    state = mailbox.state(folder)
    report.update(folder=folder, messages=state.exists, uidvalidity=state.uidvalidity)
    if settings.subscribe and "idle" not in capabilities:
        report["note"] = "the server has no IDLE: subscribe: true falls back to polling every poll_every"
    missing = _unsupported(account, capabilities)
    if missing is not None:
        report.update(problem="unsupported", explanation=PROBLEMS["unsupported"], diagnosis=missing)
        return
    report["ok"] = True


def probe_mailbox(
    transport: ReceiveTransport, account: Account, credentials: Credentials | None
) -> dict[str, Any]:
    """Open ``account``'s mailbox with ``transport``, look around read-only, close it, and report.

    Returns a dict with ``ok``, ``protocol``, ``host``, ``port`` and ``tls``; as far as it got
    ``authenticated``, ``capabilities`` (the mailbox's: folders, uidvalidity, delete, move, copy,
    idle), ``folders`` (how many), ``folder``, ``messages`` and ``uidvalidity``; on failure
    ``problem`` (a :data:`PROBLEMS` key), ``explanation`` and ``diagnosis`` (the error's text).
    """
    settings = account.receive
    assert settings is not None
    report: dict[str, Any] = {
        "ok": False,
        "protocol": settings.protocol,
        "host": settings.host,
        "port": settings.port,
        "tls": settings.tls.value,
        "authenticated": False,
    }
    mailbox: Mailbox | None = None
    try:
        mailbox = transport.open(account, credentials)
        report["authenticated"] = credentials is not None
        _explore(mailbox, account, report)
    except (MailconduitError, OSError) as exc:
        problem = diagnose(exc)
        text = str(exc) if isinstance(exc, MailconduitError) else f"{settings.host}: {exc}"
        report.update(problem=problem, explanation=PROBLEMS[problem], diagnosis=text)
    finally:
        if mailbox is not None:
            mailbox.close()
    return report
