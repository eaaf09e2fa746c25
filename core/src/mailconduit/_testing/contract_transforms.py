"""The contract suites for message transforms and recipient certificate sources.

``TransformContract`` checks one ``Transform`` object; ``CertificateSourceContract`` checks a plugin
(module or object) whose ``recipient_certificates`` hook answers for recipients.
"""

from __future__ import annotations

import email.utils
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from mailconduit._message import Address
from mailconduit._model import Account
from mailconduit._outbox._compose_for_send import accepts_recipients
from mailconduit._plugins import load_plugins
from mailconduit._protocols import Transform
from mailconduit._testing.contract_base import missing_fixture
from mailconduit._testing.contract_samples import sample_message
from mailconduit._types import Certificate, Direction, Stage, TransformResult

__all__ = ["CertificateSourceContract", "TransformContract"]


class TransformContract:
    """Base class of transform tests; override ``transform`` (and ``sample`` for incoming transforms).

    ``sample`` defaults to ``sample_message(1)``; a decrypting or verifying transform overrides it
    with a message it can open. ``envelope_recipients`` (the To and Cc of ``sample`` by default) is
    what an outgoing transform taking ``recipients`` gets; an encrypting transform may override it
    with a Bcc-only recipient it has a certificate for.
    """

    @pytest.fixture
    def transform(self) -> Transform:
        """The transform under test."""
        missing_fixture("transform", "the Transform under test")

    @pytest.fixture
    def sample(self) -> bytes:
        """Message bytes the transform applies to."""
        return sample_message(1)

    @pytest.fixture
    def envelope_recipients(self, sample: bytes) -> Sequence[Address]:
        """The envelope recipients passed as ``recipients`` (default: the sample's To and Cc)."""
        head = sample.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        values = [line.split(":", 1)[1] for line in head.split("\r\n") if line.lower()[:3] in ("to:", "cc:")]
        return tuple(Address(addr) for _, addr in email.utils.getaddresses(values) if "@" in addr)

    def test_declares_direction_and_stage(self, transform: Transform) -> None:
        """``direction`` is a ``Direction`` and ``stage`` a ``Stage``, fixed for the object.

        How to fix: expose ``direction`` and ``stage`` as attributes or properties returning the
        enums; the core sorts transforms by stage.
        """
        assert isinstance(transform.direction, Direction)
        assert isinstance(transform.stage, Stage)
        assert (transform.direction, transform.stage) == (transform.direction, transform.stage)

    def test_apply_returns_bytes_and_string_annotations(self, transform: Transform, sample: bytes) -> None:
        """``apply`` returns a ``TransformResult`` with bytes and ``str -> str`` annotations.

        How to fix: return ``TransformResult(data=new_bytes, annotations={...})``, never bare bytes.
        """
        result = transform.apply(sample)
        assert isinstance(result, TransformResult)
        assert isinstance(result.data, bytes)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.annotations.items())

    def test_apply_does_not_mutate_its_input(self, transform: Transform, sample: bytes) -> None:
        """The input is unchanged after ``apply``, even when handed a mutable buffer.

        How to fix: build new bytes; never write into the buffer you were given.
        """
        buffer = bytearray(sample)
        transform.apply(buffer)  # type: ignore[arg-type]  # a caller may pass a bytearray
        assert bytes(buffer) == sample
        first = transform.apply(sample)
        assert isinstance(transform.apply(sample), TransformResult)
        assert sample == bytes(buffer)
        assert isinstance(first.data, bytes)

    def test_recipients_keyword_is_optional_and_outgoing(self, transform: Transform) -> None:
        """A ``recipients`` parameter of ``apply`` is keyword-usable, has a default, and is outgoing-only.

        How to fix: declare ``def apply(self, data, *, recipients=None)``: the core passes the
        envelope recipients by keyword to outgoing transforms only, and calls ``apply(data)``
        everywhere else (incoming mail, older callers).
        """
        if not accepts_recipients(transform):
            parameters = inspect.signature(transform.apply).parameters
            assert "recipients" not in parameters, "recipients must be a keyword parameter"
            return
        parameter = inspect.signature(transform.apply).parameters["recipients"]
        assert parameter.default is not inspect.Parameter.empty
        assert transform.direction == Direction.OUTGOING

    def test_apply_with_envelope_recipients(
        self, transform: Transform, sample: bytes, envelope_recipients: Sequence[Address]
    ) -> None:
        """Given ``recipients=``, ``apply`` returns a ``TransformResult`` and leaves its input alone.

        How to fix: accept a sequence of ``Address`` (To, Cc and Bcc of the envelope) and use it
        instead of reading recipients from the headers, which never name Bcc recipients.
        """
        if not accepts_recipients(transform):
            pytest.skip("apply takes no recipients keyword")
        buffer = bytearray(sample)
        result = transform.apply(buffer, recipients=tuple(envelope_recipients))  # type: ignore[call-arg,arg-type]
        assert isinstance(result, TransformResult)
        assert isinstance(result.data, bytes)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.annotations.items())
        assert bytes(buffer) == sample


class CertificateSourceContract:
    """Base class of certificate source tests; override ``source``, ``known_address``, ``account``.

    ``source`` is the plugin (usually its ``plugin`` module) implementing ``recipient_certificates``.
    ``known_address`` is a recipient the source has certificates for; ``unknown_address`` one it
    has none for (defaults to an address under ``.invalid``).
    """

    @pytest.fixture
    def source(self) -> object:
        """The plugin whose ``recipient_certificates`` hook is under test."""
        missing_fixture("source", "the plugin object implementing recipient_certificates")

    @pytest.fixture
    def known_address(self) -> Address:
        """A recipient the source has at least one certificate for."""
        missing_fixture("known_address", "an Address your source has certificates for")

    @pytest.fixture
    def unknown_address(self) -> Address:
        """A recipient the source knows nothing about."""
        return Address("nobody-contract@unknown.invalid")

    @pytest.fixture
    def account(self) -> Account:
        """The sending account handed to the hook."""
        return Account(name="contract", email="sender@example.test")

    @staticmethod
    def _ask(source: object, addresses: list[Address], account: Account) -> Mapping[Address, Any] | None:
        answer: Mapping[Address, Any] | None = source.recipient_certificates(  # type: ignore[attr-defined]
            addresses=addresses, account=account
        )
        return answer

    def test_registers_as_a_plugin(self, source: object) -> None:
        """The source loads as a plugin without failures (hook names and arguments match the spec).

        How to fix: decorate ``recipient_certificates`` with ``mailconduit.hookimpl`` and name its
        arguments ``addresses`` and ``account`` exactly.
        """
        plugins = load_plugins(autoload=False, builtins=False, extra=[("contract-source", source)])
        assert plugins.failures == []
        assert "recipient_certificates" in plugins.plugins[0].hooks

    def test_answers_with_certificates_naming_the_address(
        self, source: object, known_address: Address, account: Account
    ) -> None:
        """For a known recipient the answer holds ``Certificate`` objects that name that address.

        How to fix: key the answer by the ``Address`` objects you were given and only return
        certificates whose SAN rfc822Name (or subject emailAddress) is that address.
        """
        answer = self._ask(source, [known_address], account)
        assert answer is not None
        certificates = list(answer.get(known_address, ()))
        assert certificates
        for certificate in certificates:
            assert isinstance(certificate, Certificate)
            assert certificate.der
            assert certificate.names(known_address)

    def test_unknown_address_gets_nothing(
        self, source: object, unknown_address: Address, account: Account
    ) -> None:
        """For an unknown recipient the answer is None or has no certificates for it.

        How to fix: return None (or leave the address out) instead of raising or guessing.
        """
        answer = self._ask(source, [unknown_address], account)
        assert answer is None or not list(answer.get(unknown_address, ()))

    def test_answers_only_for_asked_addresses(
        self, source: object, known_address: Address, unknown_address: Address, account: Account
    ) -> None:
        """Asked for two recipients, the answer has keys only among them; the core merges per address.

        How to fix: do not add other addresses to the mapping.
        """
        answer = self._ask(source, [known_address, unknown_address], account) or {}
        assert set(answer) <= {known_address, unknown_address}
        assert list(answer.get(known_address, ()))
