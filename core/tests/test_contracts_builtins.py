"""Every contract suite of mailconduit.testing, applied to the built-ins (and to tiny test plugins).

The memory transport, the password authenticator, the store and log actions and the jinja2 engine
must pass the same suites as installed plugins; a small transform and certificate source defined
here exercise the two suites no built-in provides.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from attrs import define, field

from mailconduit import (
    Account,
    Action,
    ActionContext,
    ActionResult,
    Address,
    Authenticator,
    Certificate,
    Credentials,
    Direction,
    PasswordAuth,
    ReceiveTransport,
    Secret,
    SendTransport,
    Stage,
    StoredMessage,
    TemplateEngine,
    Transform,
    TransformResult,
    hookimpl,
    load_plugins,
)
from mailconduit.testing import (
    AcceptedMail,
    ActionContract,
    AuthenticatorContract,
    CertificateSourceContract,
    MailboxContract,
    MemoryReceiveSettings,
    MemorySendSettings,
    MemoryServer,
    SendTransportContract,
    TemplateEngineContract,
    TransformContract,
    stored_sample,
)

USER = "alice@example.test"
PASSWORD = "correct horse battery"
_names = itertools.count()

# Built-ins are taken from a fresh PluginSet, as the core would, not imported from _builtins.
PLUGINS = load_plugins(autoload=False)


@pytest.fixture
def memory_server() -> Iterator[MemoryServer]:
    with MemoryServer(f"contract-{next(_names)}", users={USER: PASSWORD}) as server:
        yield server


def _account(server: MemoryServer) -> Account:
    return Account(
        name="alice",
        email=USER,
        auth=PasswordAuth(password=Secret(PASSWORD)),
        send=MemorySendSettings(protocol="memory", host=server.name),
        receive=MemoryReceiveSettings(protocol="memory", host=server.name),
    )


def _good() -> Credentials:
    return Credentials(kind="password", username=USER, secret=Secret(PASSWORD))


def _bad() -> Credentials:
    return Credentials(kind="password", username=USER, secret=Secret("not-the-password"))


# --------------------------------------------------------------------------- transports


class MemorySendProbe:
    """SendServerProbe over a MemoryServer."""

    def __init__(self, server: MemoryServer) -> None:
        self.server = server

    def received(self) -> Sequence[AcceptedMail]:
        return [
            AcceptedMail(envelope_from=m.envelope_from, recipients=m.recipients, data=m.data)
            for m in self.server.sent
        ]

    def refuse_recipient(self, address: str) -> None:
        self.server.refuse_recipient(address)

    def fail_next_message(self, code: int, reply: str) -> None:
        self.server.fail_next_send(code, reply)


class MemoryMailProbe:
    """MailServerProbe over a MemoryServer."""

    def __init__(self, server: MemoryServer, user: str) -> None:
        self.server = server
        self.user = user

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        self.server.deliver(self.user, raw, folder)

    def create_folder(self, folder: str) -> None:
        self.server.folder(self.user, folder)


class TestMemorySendTransport(SendTransportContract):
    @pytest.fixture
    def transport(self) -> SendTransport:
        return PLUGINS.send_transport("memory")

    @pytest.fixture
    def account(self, memory_server: MemoryServer) -> Account:
        return _account(memory_server)

    @pytest.fixture
    def credentials(self) -> Credentials:
        return _good()

    @pytest.fixture
    def bad_credentials(self) -> Credentials:
        return _bad()

    @pytest.fixture
    def send_server(self, memory_server: MemoryServer) -> MemorySendProbe:
        return MemorySendProbe(memory_server)


class TestMemoryMailbox(MailboxContract):
    supports_idle = True

    @pytest.fixture
    def transport(self) -> ReceiveTransport:
        return PLUGINS.receive_transport("memory")

    @pytest.fixture
    def account(self, memory_server: MemoryServer) -> Account:
        return _account(memory_server)

    @pytest.fixture
    def credentials(self) -> Credentials:
        return _good()

    @pytest.fixture
    def bad_credentials(self) -> Credentials:
        return _bad()

    @pytest.fixture
    def mail_server(self, memory_server: MemoryServer) -> MemoryMailProbe:
        memory_server.deliver(USER, b"Subject: already there\r\n\r\nold\r\n")  # suites never assume empty
        return MemoryMailProbe(memory_server, USER)


class TestMemoryMailboxWithoutIdle(TestMemoryMailbox):
    """The same suite with the IDLE capability off: the wait tests are skipped, the rest still run."""

    supports_idle = False

    @pytest.fixture
    def account(self, memory_server: MemoryServer) -> Account:
        memory_server.supports_idle = False
        return _account(memory_server)


# --------------------------------------------------------------------------- authenticator


class TestPasswordAuthenticator(AuthenticatorContract):
    @pytest.fixture
    def authenticator(self) -> Authenticator:
        return PLUGINS.authenticator("password")

    @pytest.fixture
    def account(self) -> Account:
        return Account(name="alice", email=USER, auth=PasswordAuth(password=Secret(PASSWORD)))


# --------------------------------------------------------------------------- actions


@define
class RecordingContext:
    """An in-memory ActionContext: keeps log lines and kept facts in lists."""

    account: Account
    lines: list[tuple[str, str]] = field(factory=list)
    kept: list[tuple[int, dict[str, str]]] = field(factory=list)

    def log(self, level: str, text: str) -> None:
        self.lines.append((level, text))

    def keep(self, message: StoredMessage, facts: Mapping[str, str]) -> None:
        self.kept.append((message.id, dict(facts)))


@pytest.fixture
def recording_context() -> RecordingContext:
    return RecordingContext(account=Account(name="alice", email=USER))


class TestStoreAction(ActionContract):
    @pytest.fixture
    def action(self) -> Action:
        return PLUGINS.action("store")

    @pytest.fixture
    def context(self, recording_context: RecordingContext) -> ActionContext:
        return recording_context

    def test_keeps_the_message_as_stored(self, action: Action, recording_context: RecordingContext) -> None:
        action(stored_sample(7), recording_context)
        assert recording_context.kept == [(7, {"stored": "yes"})]


class TestLogAction(ActionContract):
    @pytest.fixture
    def action(self) -> Action:
        return PLUGINS.action("log")

    @pytest.fixture
    def context(self, recording_context: RecordingContext) -> ActionContext:
        return recording_context

    def test_logs_one_line_without_line_breaks_from_the_subject(
        self, action: Action, recording_context: RecordingContext
    ) -> None:
        hostile = attrs.evolve(stored_sample(8), subject="hi\r\nlevel: error fake")
        action(hostile, recording_context)
        ((level, text),) = recording_context.lines
        assert level == "info"
        assert "\n" not in text and "\r" not in text
        assert "message 8" in text


class RefuseUnsigned:
    """A tiny action that rejects messages without a Message-ID, to exercise the rejection test."""

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        if message.message_id is None:
            return ActionResult(accepted=False, reason="no Message-ID header")
        return ActionResult()


class TestRejectingAction(ActionContract):
    can_reject = True

    @pytest.fixture
    def action(self) -> Action:
        return RefuseUnsigned()

    @pytest.fixture
    def context(self, recording_context: RecordingContext) -> ActionContext:
        return recording_context

    @pytest.fixture
    def rejected_message(self) -> StoredMessage:
        return attrs.evolve(stored_sample(9), message_id=None)

    def test_handles_a_message_without_headers(self, action: Action, context: ActionContext) -> None:
        """Overridden: this action rejects such a message on purpose (still with an ActionResult)."""
        result = action(attrs.evolve(stored_sample(2), message_id=None), context)
        assert result.accepted is False


# --------------------------------------------------------------------------- template engine


class TestJinja2Engine(TemplateEngineContract):
    @pytest.fixture
    def engine(self) -> TemplateEngine:
        return PLUGINS.template_engine("jinja2")


# --------------------------------------------------------------------------- transform


@define(frozen=True)
class AddHeader:
    """A tiny outgoing SIGN-stage transform that prepends a header (a stand-in for S/MIME signing)."""

    direction: Direction = Direction.OUTGOING
    stage: Stage = Stage.SIGN

    def apply(self, data: bytes) -> TransformResult:
        signed = b"X-Contract: signed\r\n" + bytes(data)
        return TransformResult(data=signed, annotations={"contract": "signed"})


class TestAddHeaderTransform(TransformContract):
    @pytest.fixture
    def transform(self) -> Transform:
        return AddHeader()


# --------------------------------------------------------------------------- certificate source


BOB = Address("bob@example.test")
NOW = datetime.now(UTC)


class FolderOfCertificates:
    """A tiny certificate source plugin: a dict from address to certificates."""

    def __init__(self, known: Mapping[Address, Sequence[Certificate]]) -> None:
        self.known = known

    @hookimpl
    def recipient_certificates(
        self, addresses: Sequence[Address], account: Account
    ) -> Mapping[Address, Sequence[Certificate]] | None:
        found = {a: self.known[a] for a in addresses if a in self.known}
        return found or None


def certificate_for(address: Address, source: str) -> Certificate:
    return Certificate(
        der=b"0\x82" + address.addr_spec.encode(),
        subject=f"CN={address.addr_spec}",
        addresses=frozenset({address.addr_spec}),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=30),
        source=source,
    )


class TestCertificateSource(CertificateSourceContract):
    @pytest.fixture
    def source(self) -> object:
        return FolderOfCertificates({BOB: [certificate_for(BOB, "files")]})

    @pytest.fixture
    def known_address(self) -> Address:
        return BOB


# --------------------------------------------------------------------------- the suites catch faults


def test_a_transport_that_loses_the_leading_dot_fails_the_send_contract(pytester: pytest.Pytester) -> None:
    """The send suite is not vacuous: a transport that mangles bytes fails it."""
    pytester.makeconftest('pytest_plugins = ["mailconduit.testing"]')
    pytester.makepyfile(
        test_broken=f"""
import pytest
from mailconduit import Account, Credentials, Secret, PasswordAuth, load_plugins
from mailconduit.testing import SendTransportContract, AcceptedMail, MemoryServer, MemorySendSettings

class Mangling:
    def __init__(self, inner):
        self.inner = inner
    def open(self, account, credentials):
        session = self.inner.open(account, credentials)
        class S:
            def send(self, f, r, data):
                return session.send(f, r, data.replace(b"\\r\\n.", b"\\r\\n"))
            def close(self):
                session.close()
        return S()

class TestBroken(SendTransportContract):
    @pytest.fixture
    def server(self):
        with MemoryServer("broken", users={{"{USER}": "pw"}}) as server:
            yield server
    @pytest.fixture
    def transport(self):
        return Mangling(load_plugins(autoload=False).send_transport("memory"))
    @pytest.fixture
    def account(self, server):
        return Account(name="a", email="{USER}", auth=PasswordAuth(password=Secret("pw")),
                       send=MemorySendSettings(protocol="memory", host=server.name))
    @pytest.fixture
    def credentials(self):
        return Credentials(kind="password", username="{USER}", secret=Secret("pw"))
    @pytest.fixture
    def bad_credentials(self):
        return Credentials(kind="password", username="{USER}", secret=Secret("nope"))
    @pytest.fixture
    def send_server(self, server):
        class P:
            def received(self):
                return [AcceptedMail(envelope_from=m.envelope_from, recipients=m.recipients, data=m.data)
                        for m in server.sent]
            def refuse_recipient(self, a):
                server.refuse_recipient(a)
            def fail_next_message(self, c, r):
                server.fail_next_send(c, r)
        return P()
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(failed=2, passed=6)
    result.stdout.fnmatch_lines(["*test_sends_several_messages_over_one_session_byte_exact*"])


def test_a_suite_without_its_fixture_says_how_to_fix(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["mailconduit.testing"]')
    pytester.makepyfile(
        test_empty="""
from mailconduit.testing import TemplateEngineContract

class TestNothing(TemplateEngineContract):
    pass
"""
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "-k", "renders_placeholders")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*needs a 'engine' fixture*How to fix*"])


def test_every_contract_test_has_a_how_to_fix_note() -> None:
    import mailconduit.testing as testing

    suites = [getattr(testing, name) for name in testing.__all__ if name.endswith("Contract")]
    assert len(suites) == 7
    for suite in suites:
        for name in dir(suite):
            if name.startswith("test_"):
                doc = getattr(suite, name).__doc__ or ""
                assert "How to fix:" in doc, f"{suite.__name__}.{name}"
