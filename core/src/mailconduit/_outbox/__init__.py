"""The outbox: queue outgoing mail in the store and send it reliably over reused sessions.

``Outbox`` is the API (``queue``, ``send_now``, ``run``, ``list``, ``retry``); ``send`` and
``queue`` are the one-call forms. The pieces: ``_compose_for_send`` (bytes and envelope fixed at
enqueue), ``_repo`` (rows and outcomes), ``_claim`` (leased claims, SKIP LOCKED on PostgreSQL),
``_ratelimit``, ``_attempt`` (one attempt and its classification), ``_record`` (set-based writes of
a batch of outcomes), ``_recorder`` (the group-commit thread), ``_worker`` (the drain loop).
"""

from __future__ import annotations

from mailconduit._outbox._api import Outbox, queue, send
from mailconduit._outbox._report import DeliveryReport, OutboxEntry, RunStats

__all__ = ["DeliveryReport", "Outbox", "OutboxEntry", "RunStats", "queue", "send"]
