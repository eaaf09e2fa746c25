"""Built-in certificate source ``received``: certificates learnt from validly signed mail received earlier.

Incoming transforms report what they learnt in ``TransformResult.certificates`` (the smime plugin's
verify transform: the signer certificate of a valid, trusted signature whose address matches the
From); replication stores them in the ``learnt_certificates`` table with the batch's results. This
source answers ``recipient_certificates`` from that table, so any later process over the same store
(``mailconduit send --encrypt``, the outbox of another runner, a restart) can encrypt to them. Each
certificate carries ``source="received"``; consumers choose among every source's offers as usual
(valid now, key usage, address match), and the smime plugin uses them only when the account's
``certificates_from`` names ``received``.

The source needs the store, which plugins never get: a new instance is registered in every plugin
set (``plugin()``), and ``PluginSet.attach_auth_context`` binds it to the store of the attached
context (opened on first use). An unbound source (no store attached) answers nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from mailconduit._message import Address
from mailconduit._model import Account
from mailconduit._types import Certificate
from mailconduit.hookspecs import hookimpl

if TYPE_CHECKING:
    from mailconduit._store import Store

__all__ = ["ReceivedCertificates", "plugin"]


class ReceivedCertificates:
    """The ``received`` source of one plugin set, answering from the store it is bound to."""

    def __init__(self) -> None:
        """An unbound source: it answers nothing until :meth:`bind` gives it a store."""
        self._opener: Callable[[], Store] | None = None
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"ReceivedCertificates({'bound' if self._opener is not None else 'unbound'})"

    def bind(self, store: Store | Callable[[], Store]) -> None:
        """Answer from ``store`` (or the store a callable opens when first asked), unless bound already."""
        with self._guard:
            if self._opener is None:
                self._opener = store if callable(store) else (lambda: store)

    @property
    def bound(self) -> bool:
        """True once a store was bound."""
        return self._opener is not None

    @hookimpl
    def recipient_certificates(
        self, addresses: Sequence[Address], account: Account
    ) -> Mapping[Address, Sequence[Certificate]] | None:
        """The certificates learnt for ``account`` from mail signed by each of ``addresses``."""
        opener = self._opener
        if opener is None or not addresses:
            return None
        from mailconduit._store._repo_certificates import learnt_for

        with opener().session(readonly=True) as session:
            found = learnt_for(session, account.name, [a.addr_spec for a in addresses])
        answer = {a: found[a.addr_spec.lower()] for a in addresses if a.addr_spec.lower() in found}
        return answer or None


def plugin() -> ReceivedCertificates:
    """A new, unbound source for one plugin set (what ``load_plugins`` registers)."""
    return ReceivedCertificates()
