"""One attempt at one message over a reused session, and its classification (``_record`` writes it).

Classification (DESIGN.md, Semantics; RELIABILITY.md C1-C3):

* the server accepted it (at least one recipient): ``sent``; refused recipients are recorded;
* ``ServerReplyError`` with ``temporary`` (4xx, 421 included), ``TransportError`` (connection
  lost, timeout), or an unexpected exception: a temporary failure, retried by ``decide_retry``
  with backoff and jitter until ``max_attempts``; a connection lost while sending is also counted
  as *ambiguous* (the server may have accepted the message before the connection went);
* ``ServerReplyError`` with a 5xx, ``TlsError``, ``AuthenticationError``, ``ProtocolError``
  (``temporary`` False) or ``MessageError`` (the message cannot be sent as it is): failed at once
  with the reply or the cause.

After any failure other than a refused transaction on a healthy session, the session is dropped
and the next message opens a new one. Texts written to the log pass through the credentials'
redaction, so even a transport that quoted a password would not put it in the store.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime
from typing import Any

from mailconduit._errors import MessageError, ServerReplyError, TransportError
from mailconduit._model import Account, SendSettings
from mailconduit._outbox._claim import Claimed
from mailconduit._outbox._report import Outcome
from mailconduit._plugins import PluginSet
from mailconduit._protocols import SendSession
from mailconduit._retry import decide_retry

__all__ = ["SessionSlot", "attempt", "decide"]

log = logging.getLogger("mailconduit.outbox")


class SessionSlot:
    """One send session of an account, opened on first use and reused until it fails or is closed."""

    def __init__(self, account: Account, plugins: PluginSet, on_open: Any = None) -> None:
        """Prepare (not open) a session for ``account``; ``on_open()`` is called for each session opened."""
        self.account = account
        self._plugins = plugins
        self._on_open = on_open
        self.session: SendSession | None = None
        self._secrets: set[str] = set()

    def __repr__(self) -> str:
        state = "open" if self.session is not None else "closed"
        return f"<SessionSlot account={self.account.name!r} {state}>"

    def get(self) -> SendSession:
        """The open session, opening one (credentials from the account's authenticator) if needed."""
        if self.session is None:
            settings = self.account.send
            assert settings is not None
            credentials = None
            if self.account.auth is not None:
                authenticator = self._plugins.authenticator(self.account.auth.method)
                credentials = authenticator.credentials(self.account, settings.protocol)
                self._secrets.add(credentials.secret.reveal())
            transport = self._plugins.send_transport(settings.protocol)
            self.session = transport.open(self.account, credentials)
            if self._on_open is not None:
                self._on_open()
        return self.session

    def drop(self) -> None:
        """Close the session (politely if it is still up); the next message opens a new one."""
        session, self.session = self.session, None
        if session is not None:
            try:
                session.close()
            except Exception:  # close must not fail a run; the connection goes anyway
                log.debug("account %r: closing a send session failed", self.account.name)

    def redact(self, text: str) -> str:
        """``text`` with any secret this slot's credentials hold replaced by ``***``."""
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _single_line(text: str) -> str:
    return " / ".join(part.strip() for part in text.splitlines() if part.strip())


def attempt(slot: SessionSlot, item: Claimed) -> tuple[str, int | None, str, dict[str, str], bool, bool]:
    """Send ``item`` over ``slot``; return (kind, code, reply, refused, temporary, ambiguous).

    ``kind`` is ``sent`` or ``failure``; never raises for a failure of this message (an unexpected
    exception is a temporary failure naming its type).
    """
    sending = False
    try:
        session = slot.get()
        sending = True
        result = session.send(item.envelope_from, list(item.recipients), item.raw)
    except ServerReplyError as exc:
        if not _session_usable(slot):
            slot.drop()
        reply = exc.reply or str(exc)
        if exc.code is not None and not reply.startswith(str(exc.code)):
            reply = f"{exc.code} {reply}"
        return "failure", exc.code, _single_line(slot.redact(reply)), {}, exc.temporary, False
    except TransportError as exc:
        slot.drop()
        return (
            "failure",
            None,
            _single_line(slot.redact(str(exc))),
            {},
            exc.temporary,
            sending and exc.temporary,
        )
    except MessageError as exc:
        return "failure", None, _single_line(slot.redact(str(exc))), {}, False, False
    except Exception as exc:  # one message's surprise must not stop the others
        slot.drop()
        text = f"unexpected {type(exc).__name__}: {exc}"
        log.warning("account %r: %s", slot.account.name, slot.redact(text))
        return "failure", None, _single_line(slot.redact(text)), {}, True, sending
    refused = {r.address: _single_line(slot.redact(r.reply)) for r in result.refused}
    reply = _single_line(slot.redact(result.reply))
    code = _leading_code(reply)
    return "sent", code, reply, refused, False, False


def _leading_code(reply: str) -> int | None:
    head = reply[:3]
    return int(head) if head.isdigit() else None


def _session_usable(slot: SessionSlot) -> bool:
    session = slot.session
    return session is not None and bool(getattr(session, "is_open", True))


def decide(
    settings: SendSettings,
    item: Claimed,
    raw: tuple[str, int | None, str, dict[str, str], bool, bool],
    now: datetime,
    rng: random.Random,
) -> Outcome:
    """Turn an attempt's result into the outcome to record (retry timing from ``decide_retry``)."""
    kind, code, reply, refused, temporary, ambiguous = raw
    if kind == "sent":
        return Outcome(kind="sent", code=code, reply=reply, refused=refused)
    decision = decide_retry(item.attempts + 1, settings.max_attempts, temporary, settings.backoff, rng)
    if decision.retry and decision.delay is not None:
        return Outcome(
            kind="retry", code=code, reply=reply, ambiguous=ambiguous, next_attempt_at=now + decision.delay
        )
    return Outcome(kind="failed", code=code, reply=reply, ambiguous=ambiguous, note=decision.reason)
