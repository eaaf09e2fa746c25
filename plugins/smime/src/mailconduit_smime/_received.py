"""Certificates learnt from validly signed mail received, per account, for encrypting replies.

Only the signer certificate of a signature that is intact and chains to the account's trust
anchors is kept; it is offered for the addresses it names. The store lives in this process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from mailconduit import Certificate

__all__ = ["RECEIVED", "ReceivedCertificates"]


class ReceivedCertificates:
    """A thread-safe ``account -> address -> certificates`` store."""

    def __init__(self) -> None:
        """An empty store."""
        self._lock = threading.Lock()
        self._by_account: dict[str, dict[str, list[Certificate]]] = {}

    def remember(self, account: str, certificate: Certificate) -> None:
        """Keep ``certificate`` for each address it names, for ``account``."""
        with self._lock:
            by_address = self._by_account.setdefault(account, {})
            for address in certificate.addresses:
                bucket = by_address.setdefault(address.lower(), [])
                if certificate not in bucket:
                    bucket.append(certificate)

    def lookup(self, account: str, address: str) -> list[Certificate]:
        """The certificates kept for ``address`` on ``account`` (case-insensitive)."""
        with self._lock:
            return list(self._by_account.get(account, {}).get(address.lower(), ()))

    def forget(self, accounts: Iterable[str] | None = None) -> None:
        """Drop what was kept (for ``accounts``, or everything)."""
        with self._lock:
            for name in list(self._by_account) if accounts is None else accounts:
                self._by_account.pop(name, None)


RECEIVED = ReceivedCertificates()
"""The process-wide store the verify transform fills and the ``recipient_certificates`` hook reads."""
