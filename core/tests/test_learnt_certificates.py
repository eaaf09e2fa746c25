"""The ``learnt_certificates`` table and the built-in ``received`` source, on SQLite and PostgreSQL.

Certificates an incoming transform reports are stored once per account, address and certificate
(an upsert: first seen kept, last seen and message updated); the ``received`` source of a plugin
set bound to the store (through ``attach_auth_context``) offers them, and a transform with
``bind_certificates`` asks the same merged sources. The end-to-end path (Dovecot, ``mailconduit
fetch``, ``mailconduit send``, ``openssl``) is in tests/test_smime_learnt_certificates.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import mailconduit
from mailconduit import Account, Address, Certificate, Direction, Stage, TransformResult, hookimpl
from mailconduit._auth_context import StoreAuthContext
from mailconduit._store import Store, open_store
from mailconduit._store._models import LearntCertificate
from mailconduit._store._repo_certificates import learnt_for, record_certificates

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def cert(der: bytes, *addresses: str, days: int = 365) -> Certificate:
    return Certificate(
        der=der,
        subject=f"CN={addresses[0]}",
        addresses=frozenset(addresses),
        not_before=T0,
        not_after=T0 + timedelta(days=days),
        key_usage=frozenset({"keyEncipherment", "digitalSignature"}),
        source="whatever-the-transform-said",
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'mail.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    opened = open_store(url)
    yield opened
    opened.close()


def test_a_certificate_is_kept_once_per_address_and_seen_again_updates_it(store: Store) -> None:
    two = cert(b"der-of-bob", "Bob@Example.test", "bob.alias@example.test")
    with store.session() as session:
        assert record_certificates(session, "acct", [(two, None)], now=T0) == 2
    with store.session() as session:  # the same certificate learnt again, twice in one batch
        record_certificates(session, "acct", [(two, None), (two, None)], now=T0 + timedelta(hours=1))
    with store.session(readonly=True) as session:
        rows = list(session.scalars(select(LearntCertificate).order_by(LearntCertificate.address)))
        found = learnt_for(session, "acct", ["BOB@example.test", "nobody@example.test"])
        other = learnt_for(session, "other-account", ["bob@example.test"])
    assert [r.address for r in rows] == ["bob.alias@example.test", "bob@example.test"]
    assert all(r.first_seen_at == T0 and r.last_seen_at == T0 + timedelta(hours=1) for r in rows)
    assert rows[0].sha256 == rows[1].sha256 and len(rows[0].sha256) == 64
    assert list(found) == ["bob@example.test"]
    (back,) = found["bob@example.test"]
    assert back.der == two.der and back.addresses == two.addresses and back.key_usage == two.key_usage
    assert (back.not_before, back.not_after, back.source) == (two.not_before, two.not_after, "received")
    assert other == {}


def test_the_received_source_answers_from_the_bound_store_only(store: Store) -> None:
    renewed = cert(b"der-of-bob-2", "bob@example.test", days=700)
    with store.session() as session:
        record_certificates(session, "acct", [(cert(b"der-of-bob-1", "bob@example.test"), None)], now=T0)
        record_certificates(session, "acct", [(renewed, None)], now=T0)
    account = Account(name="acct", email="acct@example.test")
    bob = Address("bob@example.test")

    unbound = mailconduit.load_plugins(autoload=False)
    assert unbound.hooks.recipient_certificates([bob], account) == {bob: []}

    plugins = mailconduit.load_plugins(autoload=False)
    plugins.attach_auth_context(StoreAuthContext(store, None))
    offered = plugins.hooks.recipient_certificates([bob, Address("carol@example.test")], account)
    assert sorted(c.der for c in offered[bob]) == [b"der-of-bob-1", b"der-of-bob-2"]
    assert {c.source for c in offered[bob]} == {"received"}
    assert offered[Address("carol@example.test")] == []
    other = Account(name="other", email="other@example.test")
    assert plugins.hooks.recipient_certificates([bob], other) == {bob: []}


class Recorder:
    """An outgoing transform that only remembers the lookup the core hands it."""

    direction = Direction.OUTGOING
    stage = Stage.ENCRYPT

    def __init__(self) -> None:
        self.lookup: Any = None

    def bind_certificates(self, lookup: Any) -> None:
        self.lookup = lookup

    def apply(self, data: bytes) -> TransformResult:
        return TransformResult(data=data)


class Provider:
    def __init__(self) -> None:
        self.made: list[Recorder] = []

    @hookimpl
    def message_transforms(self, account: Account) -> list[Recorder]:
        self.made.append(Recorder())
        return self.made[-1:]

    @hookimpl
    def recipient_certificates(
        self, addresses: Sequence[Address], account: Account
    ) -> Mapping[Address, Sequence[Certificate]]:
        return {a: [cert(b"der-from-files", a.addr_spec)] for a in addresses}


def test_a_transform_with_bind_certificates_asks_every_source_of_the_core_plugin_set(store: Store) -> None:
    with store.session() as session:
        record_certificates(session, "acct", [(cert(b"der-learnt", "bob@example.test"), None)], now=T0)
    provider = Provider()
    plugins = mailconduit.load_plugins(autoload=False, extra=[("provider", provider)])
    plugins.attach_auth_context(StoreAuthContext(store, None))
    account = Account(name="acct", email="acct@example.test")
    (transform,) = plugins.hooks.message_transforms(account, direction=Direction.OUTGOING)
    assert transform is provider.made[0] and transform.lookup is not None
    bob = Address("bob@example.test")
    offered = transform.lookup([bob])
    assert sorted(c.der for c in offered[bob]) == [b"der-from-files", b"der-learnt"]
