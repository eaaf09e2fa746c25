"""The contract suite every pipeline action passes: ``ActionContract``."""

from __future__ import annotations

import hashlib
from typing import ClassVar

import attrs
import pytest

from mailconduit._protocols import Action, ActionContext
from mailconduit._testing.contract_base import missing_fixture
from mailconduit._testing.contract_samples import sample_message
from mailconduit._types import ActionResult, StoredMessage

__all__ = ["ActionContract", "stored_sample"]


def stored_sample(number: int = 1, *, account: str = "contract") -> StoredMessage:
    """A ``StoredMessage`` over ``sample_message(number)``, as the store would hand it to an action.

    Args:
        number: which sample message.
        account: the account name it was received for.
    """
    raw = sample_message(number)
    return StoredMessage(
        id=number,
        account=account,
        folder="INBOX",
        key=f"1:{number}",
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        message_id=f"<contract-{number}@example.test>",
        subject=f"contract sample {number}",
        from_="sender@example.test",
        raw=lambda: raw,
    )


class ActionContract:
    """Base class of pipeline action tests; subclass it and override ``action`` and ``context``.

    ``context`` is an ``ActionContext`` your test provides (the account, a log, a place to keep
    facts). ``message`` defaults to ``stored_sample()``; for the rejection test set ``can_reject`` and
    override ``rejected_message`` with a message your action refuses.
    """

    can_reject: ClassVar[bool] = False

    @pytest.fixture
    def action(self) -> Action:
        """The action under test, built with its settings."""
        missing_fixture("action", "the Action under test")

    @pytest.fixture
    def context(self) -> ActionContext:
        """The context handed to the action."""
        missing_fixture("context", "an ActionContext (account, log, keep)")

    @pytest.fixture
    def message(self) -> StoredMessage:
        """A message the action accepts."""
        return stored_sample(1)

    @pytest.fixture
    def rejected_message(self) -> StoredMessage:
        """A message the action rejects (only with ``can_reject``)."""
        missing_fixture("rejected_message", "a StoredMessage your action rejects")

    def test_accepts_a_message_with_an_action_result(
        self, action: Action, context: ActionContext, message: StoredMessage
    ) -> None:
        """Calling the action returns an ``ActionResult`` that accepts the message.

        How to fix: return ``ActionResult(accepted=True)`` (with annotations if useful), not None.
        """
        result = action(message, context)
        assert isinstance(result, ActionResult)
        assert result.accepted is True

    def test_handles_a_message_without_headers(self, action: Action, context: ActionContext) -> None:
        """A message whose header scan found nothing (no subject, sender, id) is still handled.

        How to fix: treat ``subject``, ``from_``, ``message_id`` and ``date`` as optional.
        """
        bare = attrs.evolve(stored_sample(2), subject=None, from_=None, message_id=None, date=None)
        assert isinstance(action(bare, context), ActionResult)

    def test_can_be_called_for_many_messages(self, action: Action, context: ActionContext) -> None:
        """One action instance handles several messages in a row.

        How to fix: keep per-message state in locals, not on the action instance.
        """
        results = [action(stored_sample(n), context) for n in range(3, 6)]
        assert all(isinstance(r, ActionResult) for r in results)

    def test_rejection_has_a_reason(
        self, action: Action, context: ActionContext, request: pytest.FixtureRequest
    ) -> None:
        """A rejected message gets ``accepted=False`` and a reason that says why.

        How to fix: return ``ActionResult(accepted=False, reason="...")``; the message stays on the
        server and is retried next run.
        """
        if not self.can_reject:
            pytest.skip("capability off: can_reject")
        result = action(request.getfixturevalue("rejected_message"), context)
        assert result.accepted is False
        assert result.reason.strip()
