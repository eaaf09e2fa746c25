"""Choose servers from DNS SRV records for mail (RFC 6186, with RFC 8314's ``_submissions``).

``_submissions._tcp`` and ``_imaps._tcp``/``_pop3s._tcp`` are implicit TLS; ``_submission._tcp``,
``_imap._tcp`` and ``_pop3._tcp`` are STARTTLS. A target of ``.`` says the service is not offered
(RFC 2782). Among the rest: lowest priority first, then IMAP before POP3 and implicit TLS before
STARTTLS (RFC 8314 section 5.1), then the highest weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import define

from mailconduit._autoconfig._types import Server, valid_host
from mailconduit._model import TlsMode

__all__ = ["SERVICES", "SrvRecord", "choose_srv"]

SERVICES: dict[str, tuple[str, TlsMode]] = {
    "_submissions._tcp": ("smtp", TlsMode.TLS),
    "_submission._tcp": ("smtp", TlsMode.STARTTLS),
    "_imaps._tcp": ("imap", TlsMode.TLS),
    "_imap._tcp": ("imap", TlsMode.STARTTLS),
    "_pop3s._tcp": ("pop3", TlsMode.TLS),
    "_pop3._tcp": ("pop3", TlsMode.STARTTLS),
}
"""Service label -> (protocol, TLS mode); looked up as ``<label>.<domain>``."""


@define(frozen=True)
class SrvRecord:
    """One SRV answer: priority, weight, port, target host."""

    priority: int
    weight: int
    port: int
    target: str


def choose_srv(
    answers: Mapping[str, Sequence[SrvRecord]],
) -> tuple[list[Server], list[Server], list[str]]:
    """Order the SRV answers per service label into receive and send servers, best first.

    Returns ``(receive, send, notes)``; records with an unusable target or port are left out with a
    note, and a ``.`` target (service explicitly not offered) silently.
    """
    ranked: list[tuple[tuple[int, int, int, int], Server]] = []
    notes: list[str] = []
    for label, records in answers.items():
        if label not in SERVICES:
            continue
        protocol, tls = SERVICES[label]
        for record in records:
            target = record.target.lower().removesuffix(".")
            if not target:
                continue
            if not valid_host(target) or not 1 <= record.port <= 65535:
                notes.append(f"{label}: skipped a record with target {target[:60]!r} port {record.port}")
                continue
            server = Server(protocol=protocol, host=target, port=record.port, tls=tls)
            key = (
                record.priority,
                0 if protocol in ("imap", "smtp") else 1,
                0 if tls is TlsMode.TLS else 1,
                -record.weight,
            )
            ranked.append((key, server))
    ranked.sort(key=lambda pair: pair[0])
    receive = [s for _k, s in ranked if s.protocol != "smtp"]
    send = [s for _k, s in ranked if s.protocol == "smtp"]
    return receive, send, notes
