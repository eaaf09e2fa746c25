"""The contract suites of ``mailconduit.testing``: base test classes a plugin's tests subclass.

One suite per kind of thing a plugin provides. Subclass it in ``tests/test_contract.py``, override
the fixtures that name the thing under test (and, for transports, a probe into your server), and the
suite's tests run against it. Capability flags (class attributes) switch tests off; every test's
docstring ends with a "How to fix" note.
"""

from __future__ import annotations

from mailconduit._testing.contract_action import ActionContract, stored_sample
from mailconduit._testing.contract_auth import AuthenticatorContract
from mailconduit._testing.contract_mailbox import MailboxContract, MailServerProbe
from mailconduit._testing.contract_samples import sample_message
from mailconduit._testing.contract_send import AcceptedMail, SendServerProbe, SendTransportContract
from mailconduit._testing.contract_templates import TemplateEngineContract
from mailconduit._testing.contract_transforms import CertificateSourceContract, TransformContract

__all__ = [
    "AcceptedMail",
    "ActionContract",
    "AuthenticatorContract",
    "CertificateSourceContract",
    "MailServerProbe",
    "MailboxContract",
    "SendServerProbe",
    "SendTransportContract",
    "TemplateEngineContract",
    "TransformContract",
    "sample_message",
    "stored_sample",
]
