"""RELIABILITY.md A2: a crash at every named boundary of a run, then a rerun, equals an uninterrupted run.

Every boundary (``_crash.Boundary``) x {first, middle, last} (message of the batch for per-message
boundaries, batch of the run for per-batch ones), plus a server change cut part-way through the
refs, for IMAP-style keys with delete and move and for POP3-style UIDL keys with delete. The final
store (rows, raw bytes, results, known keys, pending changes, folder state, email log) and the
server's folders must be identical to those of a run that was never interrupted: 100 % of points.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailconduit import (
    Account,
    AfterReplication,
    MessageRef,
    MoveTo,
    PasswordAuth,
    Secret,
    hookimpl,
    load_plugins,
)
from mailconduit._builtins.memory import MemoryReceiveTransport
from mailconduit._replicate import _ingest, _plan, replicate
from mailconduit._replicate._crash import PER_MESSAGE, Boundary, crash_points
from mailconduit._store import Store, open_store
from mailconduit._store._models import (
    EmailLog,
    FolderSync,
    KnownKey,
    MessageRow,
    PendingChange,
)
from mailconduit._store._repo_messages import raw_bytes_of
from mailconduit.testing import MemoryReceiveSettings, MemoryServer

USER = "alice@example.test"
MESSAGES = 9
BATCH = 3  # three batches: first, middle, last
_names = itertools.count()


class Crash(BaseException):
    """Stands for a kill: not an Exception, so nothing in the run handles it."""


def mail(n: int) -> bytes:
    return (
        f"From: bob@example.test\r\nTo: {USER}\r\nSubject: crash {n}\r\n"
        f"Message-ID: <c{n}@example.test>\r\n\r\nbody {n}\r\n"
    ).encode()


class _Partial:
    """A receive transport whose delete / move stops after ``cut`` refs with a crash, when armed."""

    cut: int | None = None
    hidden: frozenset[str] = frozenset()

    def open(self, account: Account, credentials: Any) -> Any:
        inner = MemoryReceiveTransport().open(account, credentials)
        owner = type(self)

        class Box:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def capabilities(self) -> frozenset[str]:
                return inner.capabilities() - owner.hidden

            def delete(self, folder: str, refs: Sequence[MessageRef]) -> None:
                cut = owner.cut
                if cut is not None and cut < len(refs):
                    owner.cut = None
                    inner.delete(folder, refs[:cut])
                    raise Crash
                inner.delete(folder, refs)

            def move(self, folder: str, refs: Sequence[MessageRef], target: str) -> None:
                cut = owner.cut
                if cut is not None and cut < len(refs):
                    owner.cut = None
                    inner.move(folder, refs[:cut], target)
                    raise Crash
                inner.move(folder, refs, target)

        return Box()


class _ImapLike(_Partial):
    pass


class _Pop3Like(_Partial):
    hidden = frozenset({"uidvalidity", "folders", "move", "copy"})


class _Plugin:
    @hookimpl
    def register_transports(self, register: Any) -> None:
        register("imaplike", _ImapLike, settings=MemoryReceiveSettings)
        register("pop3like", _Pop3Like, settings=MemoryReceiveSettings)


PLUGINS = load_plugins(autoload=False, extra=[("crash-transports", _Plugin())])

VARIANTS: dict[str, tuple[str, AfterReplication | MoveTo]] = {
    "imap-delete": ("imaplike", AfterReplication.DELETE),
    "imap-move": ("imaplike", MoveTo("Archive")),
    "pop3-delete": ("pop3like", AfterReplication.DELETE),
    "imap-none": ("imaplike", AfterReplication.NONE),  # state goes with the results commit
}


@pytest.fixture(autouse=True, params=["rows", "segments"])
def small_batches(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    monkeypatch.setattr(_plan, "BATCH_SIZE", BATCH)
    if request.param == "segments":  # every batch's bytes go to a segment file, as large ones do
        monkeypatch.setattr(_ingest, "SEGMENT_MIN_BATCH", 0)


def account(host: str, variant: str) -> Account:
    protocol, after = VARIANTS[variant]
    return Account(
        name="alice",
        email=USER,
        auth=PasswordAuth(password=Secret("pw")),
        receive=MemoryReceiveSettings(
            protocol=protocol, host=host, replicate_everything=True, after_replication=after
        ),
    )


def _server() -> MemoryServer:
    server = MemoryServer(f"crash-{next(_names)}", users={USER: "pw"})
    server.folder(USER, "Archive")
    for n in range(MESSAGES):
        server.deliver(USER, mail(n))
    return server


def snapshot(store: Store, server: MemoryServer) -> dict[str, Any]:
    """Everything that must come out the same, with store ids and times left out."""
    with store.session(readonly=True) as session:
        messages = session.scalars(select(MessageRow).order_by(MessageRow.id)).all()
        uid_of = {m.id: (m.uid, m.uidl) for m in messages}
        return {
            "messages": [
                (
                    m.folder,
                    m.uidvalidity,
                    m.uid,
                    m.uidl,
                    m.sha256,
                    m.subject,
                    m.defects,
                    m.annotations,
                    m.last_error,
                    m.attempts,
                )
                for m in messages
            ],
            "raw": sorted((uid_of[i], raw) for i, raw in raw_bytes_of(session, list(uid_of)).items()),
            "known": sorted(
                (k.key, uid_of.get(k.message_id or -1)) for k in session.scalars(select(KnownKey))
            ),
            "pending": sorted(
                (uid_of[p.message_id], p.action.value, p.target_folder, p.state.value)
                for p in session.scalars(select(PendingChange))
            ),
            "state": [(s.folder, s.uidvalidity, s.last_uid) for s in session.scalars(select(FolderSync))],
            "log": sorted((e.level.value, e.text) for e in session.scalars(select(EmailLog))),
            "inbox": sorted(server.messages(USER).values()),
            "archive": sorted(server.messages(USER, "Archive").values()),
        }


def run_to_completion(acct: Account, store: Store) -> None:
    for _ in range(5):
        result = replicate(acct, store=store, plugins=PLUGINS, steps=["store", "log"])
        if result.fetched == 0 and result.remaining == 0:
            return
    raise AssertionError("replication did not converge in 5 runs")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """The final state of an uninterrupted run, per variant."""
    out: dict[str, dict[str, Any]] = {}
    patch = pytest.MonkeyPatch()
    patch.setattr(_plan, "BATCH_SIZE", BATCH)
    try:
        for variant in VARIANTS:
            with _server() as server:
                store = open_store(f"sqlite:///{tmp_path_factory.mktemp(variant) / 'ref.db'}")
                run_to_completion(account(server.name, variant), store)
                out[variant] = snapshot(store, server)
                store.close()
    finally:
        patch.undo()
    yield out


POSITIONS = {"first": 0, "middle": 1, "last": 2}
POINTS = [(b.value, p) for b in Boundary for p in POSITIONS] + [("server_partial", p) for p in POSITIONS]


NO_CHANGES_POINTS = {Boundary.SERVER_CHANGED.value, Boundary.CHANGES_MARKED.value, "server_partial"}
# without an after-replication action nothing is changed on the server: those points never come
CASES = [
    (point, position, variant)
    for point, position in POINTS
    for variant in VARIANTS
    if not (VARIANTS[variant][1] is AfterReplication.NONE and point in NO_CHANGES_POINTS)
]


@pytest.mark.parametrize(("point", "position", "variant"), CASES)
def test_crash_then_rerun_equals_an_uninterrupted_run(
    variant: str, point: str, position: str, reference: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    index = POSITIONS[position]
    hits: list[tuple[str, int, int | None]] = []

    def crash(boundary: Boundary, batch: int, message: int | None) -> None:
        if boundary.value != point:
            return
        # per message: first / middle / last message of the middle batch; per batch: that batch of the run
        chosen = (batch == 1 and message == index) if boundary in PER_MESSAGE else batch == index
        if chosen and not hits:
            hits.append((point, batch, message))
            raise Crash

    with _server() as server:
        store = open_store(f"sqlite:///{tmp_path / 'crash.db'}")
        acct = account(server.name, variant)
        if point == "server_partial":
            transport = _Pop3Like if variant.startswith("pop3") else _ImapLike
            transport.cut = index  # 0, 1 or 2 of the 3 refs sent before the crash
            with pytest.raises(Crash):
                replicate(acct, store=store, plugins=PLUGINS, steps=["store", "log"])
            assert transport.cut is None
        else:
            with crash_points(crash), pytest.raises(Crash):
                replicate(acct, store=store, plugins=PLUGINS, steps=["store", "log"])
            assert hits, f"boundary {point} at {position} was never reached"
        run_to_completion(acct, store)
        assert snapshot(store, server) == reference[variant]
        store.close()
