"""Replication runs against the memory transport: the promises of DESIGN.md "Semantics" one by one.

At-least-once into the store and exactly-once in effect, selection (oldest / latest / limit /
everything), capability checks before any fetch, step failures (A4), a poison message (A5), a
UIDVALIDITY change (A7), hooks and their order, adopt, and POP3-style UIDL keys.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from sqlalchemy import func, select

from mailconduit import (
    Account,
    ActionResult,
    AfterReplication,
    ConfigError,
    FetchStrategy,
    MoveTo,
    PasswordAuth,
    RunInfo,
    RunResult,
    Secret,
    StoredBatch,
    StoredMessage,
    hookimpl,
    load_plugins,
)
from mailconduit._replicate import adopt, replicate
from mailconduit._store import Store, open_store
from mailconduit._store._models import (
    Attachment,
    EmailLog,
    KnownKey,
    MessageRaw,
    MessageRow,
    PendingChange,
    PendingState,
)
from mailconduit._store._repo_messages import raw_bytes_of
from mailconduit.testing import MemoryReceiveSettings, MemoryServer

USER = "alice@example.test"
_names = itertools.count()


def mail(n: int, *, subject: str | None = None, extra: bytes = b"") -> bytes:
    subject_line = subject if subject is not None else f"message {n}"
    return (
        f"From: Bob <bob@example.test>\r\nTo: {USER}\r\nSubject: {subject_line}\r\n"
        f"Message-ID: <m{n}@example.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n".encode()
        + extra
        + f"Body {n}\r\n".encode()
    )


def make_account(host: str, **receive: Any) -> Account:
    return Account(
        name="alice",
        email=USER,
        auth=PasswordAuth(password=Secret("pw")),
        receive=MemoryReceiveSettings(protocol="memory", host=host, **receive),
    )


def with_receive(account: Account, **changes: Any) -> Account:
    assert account.receive is not None
    return attrs.evolve(account, receive=attrs.evolve(account.receive, **changes))


@pytest.fixture
def server() -> Iterator[MemoryServer]:
    with MemoryServer(f"replicate-{next(_names)}", users={USER: "pw"}) as srv:
        yield srv


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    yield opened
    opened.close()


PLUGINS = load_plugins(autoload=False)


def rows(store: Store) -> list[MessageRow]:
    with store.session(readonly=True) as session:
        return list(session.scalars(select(MessageRow).order_by(MessageRow.id)))


def raws(store: Store) -> dict[int, bytes]:
    with store.session(readonly=True) as session:
        return raw_bytes_of(session, list(session.scalars(select(MessageRaw.message_id))))


def test_replicates_every_message_once_byte_exact(server: MemoryServer, store: Store) -> None:
    originals = [mail(n) for n in range(7)]
    for data in originals:
        server.deliver(USER, data)
    account = make_account(server.name)

    first = replicate(account, store=store, plugins=PLUGINS)
    assert (first.fetched, first.stored, first.known, first.failed, first.remaining) == (7, 7, 0, 0, 0)
    stored = rows(store)
    assert [r.uid for r in stored] == list(range(1, 8))
    assert sorted(raws(store).values()) == sorted(originals)
    assert all(r.sha256 == hashlib.sha256(d).hexdigest() for r, d in zip(stored, originals, strict=True))
    assert stored[0].subject == "message 0" and stored[0].header_message_id == "<m0@example.test>"
    assert stored[0].annotations.get("stored") == "yes"

    second = replicate(account, store=store, plugins=PLUGINS)
    assert (second.fetched, second.stored) == (0, 0)
    assert len(rows(store)) == 7
    assert len(server.messages(USER)) == 7  # after_replication none: the server is untouched


@pytest.mark.parametrize(
    ("strategy", "limit", "everything", "expected"),
    [
        (FetchStrategy.OLDEST, None, None, [1, 2, 3]),
        (FetchStrategy.LATEST, None, None, [10, 9, 8]),
        (FetchStrategy.OLDEST, 5, None, [1, 2, 3, 4, 5]),
        (FetchStrategy.LATEST, 1, None, [10]),
        (FetchStrategy.OLDEST, None, True, list(range(1, 11))),
    ],
)
def test_strategy_limit_and_everything_select_exactly(
    server: MemoryServer,
    store: Store,
    strategy: FetchStrategy,
    limit: int | None,
    everything: bool | None,
    expected: list[int],
) -> None:
    for n in range(10):
        server.deliver(USER, mail(n))
    account = make_account(server.name, messages_per_run=3, fetch_strategy=strategy)
    result = replicate(account, store=store, plugins=PLUGINS, limit=limit, everything=everything)
    assert [r.uid for r in rows(store)] == expected
    assert result.remaining == 10 - len(expected)


def test_replicate_everything_setting_takes_all_in_batches(server: MemoryServer, store: Store) -> None:
    for n in range(12):
        server.deliver(USER, mail(n))
    account = make_account(server.name, messages_per_run=2, replicate_everything=True)
    seen: list[tuple[int, int]] = []
    result = replicate(
        account, store=store, plugins=PLUGINS, progress=lambda done, total: seen.append((done, total))
    )
    assert result.stored == 12 and result.remaining == 0
    assert seen[-1] == (12, 12)


def test_next_run_resumes_where_the_last_stopped(server: MemoryServer, store: Store) -> None:
    for n in range(5):
        server.deliver(USER, mail(n))
    account = make_account(server.name, messages_per_run=2)
    assert replicate(account, store=store, plugins=PLUGINS).stored == 2
    assert replicate(account, store=store, plugins=PLUGINS).stored == 2
    last = replicate(account, store=store, plugins=PLUGINS)
    assert (last.stored, last.remaining) == (1, 0)
    assert [r.uid for r in rows(store)] == [1, 2, 3, 4, 5]


def test_delete_after_replication_removes_exactly_the_replicated(server: MemoryServer, store: Store) -> None:
    for n in range(5):
        server.deliver(USER, mail(n))
    account = make_account(server.name, messages_per_run=3, after_replication=AfterReplication.DELETE)
    result = replicate(account, store=store, plugins=PLUGINS)
    assert (result.stored, result.deleted) == (3, 3)
    assert sorted(server.messages(USER)) == [4, 5]
    with store.session(readonly=True) as session:
        states = list(session.scalars(select(PendingChange.state)))
    assert states == [PendingState.APPLIED] * 3


def test_move_after_replication(server: MemoryServer, store: Store) -> None:
    server.folder(USER, "Processed")
    for n in range(3):
        server.deliver(USER, mail(n))
    account = make_account(server.name, after_replication=MoveTo("Processed"))
    result = replicate(account, store=store, plugins=PLUGINS)
    assert result.moved == 3
    assert server.messages(USER) == {}
    assert sorted(server.messages(USER, "Processed").values()) == sorted(mail(n) for n in range(3))


def test_missing_move_target_fails_before_anything_is_fetched(server: MemoryServer, store: Store) -> None:
    server.deliver(USER, mail(1))
    account = make_account(server.name, after_replication=MoveTo("Archive"))
    with pytest.raises(ConfigError, match=r"move_to: folder 'Archive' does not exist"):
        replicate(account, store=store, plugins=PLUGINS)
    assert rows(store) == []
    assert len(server.messages(USER)) == 1


class _NoDelete:
    """A wrapper transport whose mailboxes lack chosen capabilities (as a server without UIDPLUS)."""

    hidden: frozenset[str] = frozenset({"delete", "move", "copy"})

    def open(self, account: Account, credentials: Any) -> Any:
        from mailconduit._builtins.memory import MemoryReceiveTransport

        inner = MemoryReceiveTransport().open(account, credentials)
        hidden = self.hidden

        class Box:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def capabilities(self) -> frozenset[str]:
                return inner.capabilities() - hidden

        return Box()


class _NoDeletePlugin:
    @hookimpl
    def register_transports(self, register: Any) -> None:
        register("nodelete", _NoDelete, settings=MemoryReceiveSettings)


def test_delete_without_capability_fails_before_anything_is_fetched(
    server: MemoryServer, store: Store
) -> None:
    server.deliver(USER, mail(1))
    plugins = load_plugins(autoload=False, extra=[("nodelete", _NoDeletePlugin())])
    account = make_account(server.name, after_replication=AfterReplication.DELETE)
    account = with_receive(account, protocol="nodelete")
    with pytest.raises(ConfigError, match=r"after_replication: delete is refused"):
        replicate(account, store=store, plugins=plugins)
    moving = with_receive(account, after_replication=MoveTo("INBOX"))
    with pytest.raises(ConfigError, match=r"can neither move nor copy"):
        replicate(moving, store=store, plugins=plugins)
    assert rows(store) == []


def test_a_failing_step_marks_its_messages_and_the_batch_goes_on(server: MemoryServer, store: Store) -> None:
    """RELIABILITY.md A4: 1% of messages fail a step; none of them is deleted; they are retried."""
    for n in range(200):
        server.deliver(USER, mail(n))
    account = make_account(server.name, replicate_everything=True, after_replication=AfterReplication.DELETE)
    failing = {"message 17", "message 123"}
    calls: list[str] = []

    def flaky(message: StoredMessage, context: Any) -> ActionResult:
        calls.append(message.subject or "")
        if message.subject in failing:
            raise RuntimeError("webhook answered 503")
        context.log("info", f"handled {message.subject}")
        return ActionResult(accepted=True, annotations={"flaky": "ok"})

    result = replicate(account, store=store, plugins=PLUGINS, steps=["store", flaky])
    assert (result.stored, result.failed, result.deleted) == (200, 2, 198)
    left = server.messages(USER)
    assert sorted(left.values()) == sorted([mail(17), mail(123)])
    marked = {r.subject: r.last_error for r in rows(store) if r.last_error}
    assert set(marked) == failing
    assert all("step 'flaky' failed: RuntimeError: webhook answered 503" in v for v in marked.values())
    with store.session(readonly=True) as session:
        warnings = session.scalar(select(func.count()).where(EmailLog.level == "warning"))
        infos = session.scalar(select(func.count()).where(EmailLog.level == "info"))
    assert (warnings, infos) == (2, 198)

    failing.clear()
    calls.clear()
    retry = replicate(account, store=store, plugins=PLUGINS, steps=["store", flaky])
    assert (retry.fetched, retry.stored, retry.known, retry.failed, retry.deleted) == (2, 0, 2, 0, 2)
    assert sorted(calls) == ["message 123", "message 17"]
    assert server.messages(USER) == {}
    assert all(r.last_error is None and r.annotations["flaky"] == "ok" for r in rows(store))


def test_a_rejecting_step_leaves_the_message_on_the_server(server: MemoryServer, store: Store) -> None:
    for n in range(3):
        server.deliver(USER, mail(n))
    account = make_account(server.name, after_replication=AfterReplication.DELETE)

    def picky(message: StoredMessage, context: Any) -> ActionResult:
        return ActionResult(accepted=message.subject != "message 1", reason="not for us yet")

    result = replicate(account, store=store, plugins=PLUGINS, steps=[picky])
    assert (result.failed, result.deleted) == (1, 2)
    assert list(server.messages(USER).values()) == [mail(1)]
    assert [r.last_error for r in rows(store)][1] == "step 'picky' rejected it: not for us yet"


def test_poison_message_is_stored_raw_with_limit_exceeded(server: MemoryServer, store: Store) -> None:
    """RELIABILITY.md A5: 20,000 encoded-words in a Subject, in a batch of 200."""
    poison_subject = " ".join(["=?utf-8?q?caf=C3=A9?="] * 20_000)
    for n in range(200):
        server.deliver(USER, mail(n, subject=poison_subject) if n == 100 else mail(n))
    account = make_account(server.name, replicate_everything=True, after_replication=AfterReplication.DELETE)
    result = replicate(account, store=store, plugins=PLUGINS)
    assert (result.stored, result.failed, result.deleted) == (200, 0, 200)
    poison = rows(store)[100]
    assert any(d.startswith("limit_exceeded") for d in poison.defects)
    assert raws(store)[poison.id] == mail(100, subject=poison_subject)
    assert all(
        not any(d.startswith("limit_exceeded") for d in r.defects) for r in rows(store) if r.id != poison.id
    )


def test_message_over_max_size_is_stored_but_not_parsed(server: MemoryServer, store: Store) -> None:
    big = mail(1, extra=b"x" * 5000 + b"\r\n")
    server.deliver(USER, big)
    account = make_account(server.name, max_message_size=2048)
    replicate(account, store=store, plugins=PLUGINS)
    (row,) = rows(store)
    assert any("over max_message_size" in d for d in row.defects)
    assert raws(store)[row.id] == big


def test_attachments_are_recorded_from_the_full_parse(server: MemoryServer, store: Store) -> None:
    data = (
        b"From: bob@example.test\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b'--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="r.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
    )
    server.deliver(USER, data)
    replicate(make_account(server.name), store=store, plugins=PLUGINS)
    with store.session(readonly=True) as session:
        (attachment,) = session.scalars(select(Attachment))
    assert (attachment.filename, attachment.content_type, attachment.size) == ("r.pdf", "application/pdf", 9)


def test_uidvalidity_change_is_reconciled_without_new_rows(server: MemoryServer, store: Store) -> None:
    """RELIABILITY.md A7: same messages under a new UIDVALIDITY: 0 new rows, 1 warning."""
    for n in range(6):
        server.deliver(USER, mail(n))
    account = make_account(server.name, replicate_everything=True)
    replicate(account, store=store, plugins=PLUGINS)
    before = {r.id: r.sha256 for r in rows(store)}
    old_validity = rows(store)[0].uidvalidity

    server.recreate(USER)
    result = replicate(account, store=store, plugins=PLUGINS)
    assert (result.fetched, result.stored, result.known) == (6, 0, 6)
    after = rows(store)
    assert {r.id: r.sha256 for r in after} == before
    assert {r.uidvalidity for r in after} == {server.folder(USER).uidvalidity} != {old_validity}
    with store.session(readonly=True) as session:
        warnings = list(session.scalars(select(EmailLog.text).where(EmailLog.level == "warning")))
    assert len(warnings) == 1 and "UIDVALIDITY changed" in warnings[0]

    again = replicate(account, store=store, plugins=PLUGINS)
    assert (again.fetched, again.stored) == (0, 0)
    with store.session(readonly=True) as session:
        assert session.scalar(select(func.count()).where(EmailLog.level == "warning")) == 1


def test_uidvalidity_change_matches_by_message_id_when_bytes_differ(
    server: MemoryServer, store: Store
) -> None:
    server.deliver(USER, mail(1))
    account = make_account(server.name)
    replicate(account, store=store, plugins=PLUGINS)
    box = server._mailboxes[USER].pop("INBOX")
    server.deliver(USER, b"X-Restored: yes\r\n" + mail(1))
    assert box.uidvalidity != server.folder(USER).uidvalidity
    result = replicate(account, store=store, plugins=PLUGINS)
    assert (result.stored, result.known) == (0, 1)
    assert len(rows(store)) == 1


class _Naive:
    """A transport that deletes by UID alone, ignoring the UIDVALIDITY in the key (as a careless server)."""

    def open(self, account: Account, credentials: Any) -> Any:
        from mailconduit._builtins.memory import MemoryReceiveTransport
        from mailconduit._types import MessageRef

        inner = MemoryReceiveTransport().open(account, credentials)

        class Box:
            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

            def delete(self, folder: str, refs: Sequence[MessageRef]) -> None:
                validity = inner.state(folder).uidvalidity
                inner.delete(folder, [MessageRef(f"{validity}:{r.key.split(':')[1]}") for r in refs])

        return Box()


class _NaivePlugin:
    @hookimpl
    def register_transports(self, register: Any) -> None:
        register("naive", _Naive, settings=MemoryReceiveSettings)


def test_uidvalidity_change_never_sends_stale_server_changes(server: MemoryServer, store: Store) -> None:
    """A7: pending deletes of old UIDs are not sent after the folder got new UIDs for other mail."""
    from mailconduit._replicate._crash import Boundary, crash_points

    class Crash(BaseException):
        pass

    def crash(boundary: Boundary, batch: int, message: int | None) -> None:
        if boundary is Boundary.RESULTS_COMMITTED:
            raise Crash

    for n in range(3):
        server.deliver(USER, mail(n))
    account = make_account(server.name, after_replication=AfterReplication.DELETE)
    with crash_points(crash), pytest.raises(Crash):
        replicate(account, store=store, plugins=PLUGINS)
    # the folder is recreated holding other messages at the same UID numbers 1..3
    server._mailboxes[USER].pop("INBOX")
    strangers = [mail(100 + n, subject=f"stranger {n}") for n in range(3)]
    for data in strangers:
        server.deliver(USER, data)

    def keep_strangers(message: StoredMessage, context: Any) -> ActionResult:
        return ActionResult(accepted=not (message.subject or "").startswith("stranger"), reason="held")

    plugins = load_plugins(autoload=False, extra=[("naive", _NaivePlugin())])
    naive = with_receive(account, protocol="naive")
    result = replicate(naive, store=store, plugins=plugins, steps=[keep_strangers])
    assert result.deleted == 0
    assert sorted(server.messages(USER).values()) == sorted(strangers)
    with store.session(readonly=True) as session:
        assert (
            session.scalar(
                select(func.count()).where(EmailLog.level == "warning", EmailLog.text.like("%UIDVALIDITY%"))
            )
            == 1
        )


class Recorder:
    """A plugin recording lifecycle hooks and the server state each one saw."""

    def __init__(self, server: MemoryServer) -> None:
        self.server = server
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def after_batch_stored(self, batch: StoredBatch, run: RunInfo) -> None:
        self.events.append(("batch", (len(batch.accepted), len(self.server.messages(USER)))))

    @hookimpl
    def after_run_completed(self, result: RunResult, run: RunInfo) -> None:
        self.events.append(("completed", result.stored))
        raise RuntimeError("a broken hook must not break the run")

    @hookimpl
    def on_run_error(self, error: BaseException, run: RunInfo) -> None:
        self.events.append(("error", type(error).__name__))


def test_hooks_run_in_order_and_their_errors_are_only_logged(server: MemoryServer, store: Store) -> None:
    for n in range(4):
        server.deliver(USER, mail(n))
    recorder = Recorder(server)
    plugins = load_plugins(autoload=False, extra=[("recorder", recorder)])
    account = make_account(server.name, after_replication=AfterReplication.DELETE)
    result = replicate(account, store=store, plugins=plugins)
    assert result.deleted == 4
    # the batch hook saw all 4 accepted while they were still on the server: before the after-action
    assert recorder.events == [("batch", (4, 4)), ("completed", 4)]

    server.folder(USER, "Archive")
    missing = with_receive(account, after_replication=MoveTo("Nowhere"))
    with pytest.raises(ConfigError):
        replicate(missing, store=store, plugins=plugins)
    assert recorder.events[-1] == ("error", "ConfigError")


def test_dry_run_counts_and_changes_nothing(server: MemoryServer, store: Store) -> None:
    for n in range(4):
        server.deliver(USER, mail(n))
    account = make_account(server.name, after_replication=AfterReplication.DELETE)
    result = replicate(account, store=store, plugins=PLUGINS, dry_run=True)
    assert (result.fetched, result.stored, result.remaining) == (0, 0, 4)
    assert rows(store) == [] and len(server.messages(USER)) == 4


def test_adopt_records_the_folder_without_downloading(server: MemoryServer, store: Store) -> None:
    for n in range(5):
        server.deliver(USER, mail(n))
    account = make_account(server.name, after_replication=AfterReplication.DELETE)
    adopted = adopt(account, store=store, plugins=PLUGINS)
    assert (adopted.adopted, adopted.known) == (5, 0)
    assert rows(store) == []
    server.deliver(USER, mail(99))
    result = replicate(account, store=store, plugins=PLUGINS)
    assert (result.fetched, result.stored, result.deleted) == (1, 1, 1)
    assert [r.subject for r in rows(store)] == ["message 99"]
    assert len(server.messages(USER)) == 5  # the adopted ones are left alone
    assert adopt(account, store=store, plugins=PLUGINS).adopted == 0


class _Pop3Like(_NoDelete):
    """Keys without UIDVALIDITY: the core stores them as UIDLs, as for POP3."""

    hidden = frozenset({"uidvalidity", "folders", "move", "copy"})


class _Pop3Plugin:
    @hookimpl
    def register_transports(self, register: Any) -> None:
        register("pop3like", _Pop3Like, settings=MemoryReceiveSettings)


def test_uidl_keys_store_each_message_once(server: MemoryServer, store: Store) -> None:
    for n in range(3):
        server.deliver(USER, mail(n))
    plugins = load_plugins(autoload=False, extra=[("pop3like", _Pop3Plugin())])
    account = make_account(server.name, messages_per_run=2, after_replication=AfterReplication.DELETE)
    account = with_receive(account, protocol="pop3like")
    assert replicate(account, store=store, plugins=plugins).stored == 2
    assert replicate(account, store=store, plugins=plugins).stored == 1
    stored = rows(store)
    assert [(r.uidl is not None, r.uid, r.uidvalidity) for r in stored] == [(True, None, None)] * 3
    assert server.messages(USER) == {}
    with pytest.raises(ConfigError, match="no folders besides INBOX"):
        replicate(account, store=store, plugins=plugins, folder="Archive")


def test_known_keys_are_recorded_only_for_accepted_messages(server: MemoryServer, store: Store) -> None:
    for n in range(3):
        server.deliver(USER, mail(n))

    def no(message: StoredMessage, context: Any) -> ActionResult:
        return ActionResult(accepted=message.subject != "message 2", reason="no")

    replicate(make_account(server.name), store=store, plugins=PLUGINS, steps=[no])
    with store.session(readonly=True) as session:
        keys = sorted(k.split(":")[1] for k in session.scalars(select(KnownKey.key)))
    assert keys == ["1", "2"]


def test_the_cyclic_collector_is_paused_while_a_batch_is_replicated(
    server: MemoryServer, store: Store
) -> None:
    """A batch runs with the collector off (its passes cost a tenth of a long run) and it is on after."""

    for n in range(3):
        server.deliver(USER, mail(n))
    seen: list[bool] = []

    def watch(message: StoredMessage, context: Any) -> ActionResult:
        seen.append(gc.isenabled())
        return ActionResult(accepted=True)

    assert gc.isenabled()
    replicate(make_account(server.name), store=store, plugins=PLUGINS, steps=["store", watch])
    assert seen == [False, False, False]
    assert gc.isenabled()
