"""The later, budgeted full parse: defects the cheap ingest cannot see are recorded, each message once."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailconduit import Account, PasswordAuth, Secret, load_plugins
from mailconduit._replicate import analyse, replicate
from mailconduit._store import Store, open_store
from mailconduit._store._models import MessageRow
from mailconduit.testing import MemoryReceiveSettings, MemoryServer

USER = "alice@example.test"
_names = itertools.count()
GOOD = b"From: a@example.test\r\nTo: alice@example.test\r\nSubject: fine\r\n\r\nHello\r\n"
# a multipart whose start boundary never comes: the stdlib reports StartBoundaryNotFoundDefect
BROKEN = (
    b"From: a@example.test\r\nTo: alice@example.test\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="nowhere"\r\n\r\nno parts at all\r\n'
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'mail.db'}")
    yield opened
    opened.close()


def _replicated(store: Store) -> dict[str, MessageRow]:
    with MemoryServer(f"analyse-{next(_names)}", users={USER: "pw"}) as server:
        server.deliver(USER, GOOD)
        server.deliver(USER, BROKEN)
        account = Account(
            name="alice",
            email=USER,
            auth=PasswordAuth(password=Secret("pw")),
            receive=MemoryReceiveSettings(protocol="memory", host=server.name),
        )
        replicate(account, store=store, plugins=load_plugins(autoload=False))
    with store.session(readonly=True) as session:
        return {row.subject or "": row for row in session.scalars(select(MessageRow))}


def test_analyse_records_full_parse_defects_once(store: Store) -> None:
    before = _replicated(store)
    assert not any("Boundary" in d for d in before["broken"].defects)
    result = analyse(store)
    assert (result.parsed, result.with_defects, result.limit_exceeded) == (2, 1, 0)
    assert analyse(store).parsed == 0
    with store.session(readonly=True) as session:
        after = {row.subject: row for row in session.scalars(select(MessageRow))}
    assert any("StartBoundaryNotFound" in d for d in after["broken"].defects), after["broken"].defects
    assert after["fine"].defects == [] and after["fine"].annotations["parsed"] == "full"


def test_messages_analyse_command(store: Store, tmp_path: Path) -> None:
    from mailconduit._cli import cli

    _replicated(store)
    url = f"sqlite:///{tmp_path / 'mail.db'}"
    result = CliRunner().invoke(cli, ["--db", url, "messages", "analyse", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"parsed": 2, "with_defects": 1, "limit_exceeded": 0}
