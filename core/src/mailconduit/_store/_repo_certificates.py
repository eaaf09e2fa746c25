"""The ``learnt_certificates`` table: certificates incoming transforms learnt, per account and address.

``record_certificates`` runs in the transaction of a batch's results (commit 2): one row per account,
address the certificate names and certificate (SHA-256 of its DER), inserted or, when already known,
its ``last_seen_at`` and message updated (an upsert, so two runners learning the same certificate at
once never fail a commit). ``learnt_for`` reads them back as ``Certificate`` values for the core's
``received`` certificate source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Executable, select
from sqlalchemy.orm import Session

from mailconduit._store._models import LearntCertificate
from mailconduit._types import Certificate

__all__ = ["LEARNT_SOURCE", "learnt_for", "record_certificates"]

LEARNT_SOURCE = "received"
"""The ``Certificate.source`` of stored certificates (what ``certificates_from: [received]`` selects)."""


def _rows(
    account: str, certificates: Iterable[tuple[Certificate, int | None]], now: datetime
) -> list[dict[str, object]]:
    rows: dict[tuple[str, str], dict[str, object]] = {}
    for certificate, message_id in certificates:
        digest = hashlib.sha256(certificate.der).hexdigest()
        for address in sorted({a.strip().lower() for a in certificate.addresses if "@" in a}):
            rows[(address, digest)] = {
                "account": account,
                "address": address,
                "sha256": digest,
                "der": bytes(certificate.der),
                "subject": certificate.subject,
                "addresses": sorted(certificate.addresses),
                "key_usage": sorted(certificate.key_usage),
                "not_before": certificate.not_before,
                "not_after": certificate.not_after,
                "first_seen_at": now,
                "last_seen_at": now,
                "message_id": message_id,
            }
    return list(rows.values())


def record_certificates(
    session: Session,
    account: str,
    certificates: Iterable[tuple[Certificate, int | None]],
    *,
    now: datetime,
) -> int:
    """Store ``(certificate, message id)`` pairs learnt for ``account``; returns the rows written.

    A certificate is kept once per address it names; one seen before keeps its ``first_seen_at``
    and gets this ``last_seen_at`` and message id.
    """
    rows = _rows(account, certificates, now)
    if not rows:
        return 0
    session.execute(_upsert(session.get_bind().dialect.name), rows)
    return len(rows)


def _upsert(dialect: str) -> Executable:
    """``INSERT ... ON CONFLICT (account, address, sha256) DO UPDATE`` last seen and message."""
    keys = ["account", "address", "sha256"]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(LearntCertificate)
        return pg.on_conflict_do_update(
            index_elements=keys,
            set_={"last_seen_at": pg.excluded.last_seen_at, "message_id": pg.excluded.message_id},
        )
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # the only other store backend

    lite = sqlite_insert(LearntCertificate)
    return lite.on_conflict_do_update(
        index_elements=keys,
        set_={"last_seen_at": lite.excluded.last_seen_at, "message_id": lite.excluded.message_id},
    )


def learnt_for(session: Session, account: str, addresses: Sequence[str]) -> Mapping[str, list[Certificate]]:
    """The stored certificates of ``account`` per address (keys lower case; absent when none)."""
    wanted = sorted({a.strip().lower() for a in addresses})
    if not wanted:
        return {}
    query = (
        select(LearntCertificate)
        .where(LearntCertificate.account == account, LearntCertificate.address.in_(wanted))
        .order_by(LearntCertificate.address, LearntCertificate.not_after.desc())
    )
    found: dict[str, list[Certificate]] = {}
    for row in session.scalars(query):
        found.setdefault(row.address, []).append(
            Certificate(
                der=bytes(row.der),
                subject=row.subject,
                addresses=frozenset(row.addresses or ()),
                not_before=row.not_before,
                not_after=row.not_after,
                key_usage=frozenset(row.key_usage or ()),
                source=LEARNT_SOURCE,
            )
        )
    return found
