"""Outgoing transforms and the envelope: a transform taking ``recipients`` gets To, Cc and Bcc.

The composed bytes never name Bcc recipients, so an encrypting transform learns them only from
the envelope the outbox passes (``apply(data, recipients=...)``); transforms written before that
keyword existed keep being called with the bytes alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from attrs import define, field

from mailconduit import Account, Address, Direction, Message, Stage, Transform, TransformResult
from mailconduit._outbox._compose_for_send import accepts_recipients, prepare
from mailconduit.testing import TransformContract

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACCOUNT = Account(name="support", email="support@example.test")


@define
class EnvelopeNote:
    """Prepends ``X-Envelope:`` with the recipients it was given (or ``headers-only``)."""

    direction: Direction = Direction.OUTGOING
    stage: Stage = Stage.ENCRYPT
    seen: list[tuple[Address, ...] | None] = field(factory=list)

    def apply(self, data: bytes, *, recipients: Sequence[Address] | None = None) -> TransformResult:
        self.seen.append(None if recipients is None else tuple(recipients))
        note = ", ".join(a.addr_spec for a in recipients) if recipients is not None else "headers-only"
        return TransformResult(data=f"X-Envelope: {note}\r\n".encode() + bytes(data))


@define
class OldStyle:
    """A transform written before the keyword: ``apply(data)`` only."""

    direction: Direction = Direction.OUTGOING
    stage: Stage = Stage.SIGN
    calls: int = 0

    def apply(self, data: bytes) -> TransformResult:
        self.calls += 1
        return TransformResult(data=b"X-Old: yes\r\n" + bytes(data))


def test_a_transform_taking_recipients_gets_to_cc_and_bcc_which_the_bytes_do_not_name() -> None:
    note, old = EnvelopeNote(), OldStyle()
    message = Message(
        to=[Address("to@example.test")],
        cc=[Address("cc@example.test"), Address("TO@example.test")],
        bcc=[Address("hidden@example.test")],
        subject="Quarterly figures",
        text="See attachment.\n",
    )
    prepared = prepare(ACCOUNT, message, now=NOW, transforms=[old, note])
    assert old.calls == 1
    (given,) = note.seen
    assert given is not None
    assert [a.addr_spec for a in given] == ["to@example.test", "cc@example.test", "hidden@example.test"]
    head = prepared.raw.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(
        b"X-Envelope: to@example.test, cc@example.test, hidden@example.test\r\nX-Old: yes\r\n"
    )
    assert b"hidden@example.test" not in head.split(b"\r\n", 1)[1]  # only the note names the Bcc
    assert set(prepared.recipients) == {"to@example.test", "cc@example.test", "hidden@example.test"}


def test_which_transforms_accept_recipients() -> None:
    class Positional:
        def apply(self, data: bytes, recipients: Sequence[Address] | None = None) -> TransformResult:
            return TransformResult(data=data)

    class VarPositional:
        def apply(self, data: bytes, *recipients: Address) -> TransformResult:
            return TransformResult(data=data)

    assert accepts_recipients(EnvelopeNote())
    assert accepts_recipients(Positional())
    assert not accepts_recipients(OldStyle())
    assert not accepts_recipients(VarPositional())
    assert not accepts_recipients(object())


class TestEnvelopeNoteTransform(TransformContract):
    """The contract suite, recipients keyword included, on a transform that takes it."""

    @pytest.fixture
    def transform(self) -> Transform:
        return EnvelopeNote()


class TestOldStyleTransform(TransformContract):
    """The contract suite on a transform without the keyword: the recipients tests pass or skip."""

    @pytest.fixture
    def transform(self) -> Transform:
        return OldStyle()
