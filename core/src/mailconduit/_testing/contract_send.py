"""The contract suite every send transport passes: ``SendTransportContract``.

Subclass it in your plugin's ``tests/test_contract.py`` and override the fixtures that supply your
transport and a server to talk to::

    class TestSmtp(SendTransportContract):
        @pytest.fixture
        def transport(self) -> SendTransport:
            return SmtpTransport()

        @pytest.fixture
        def account(self, smtp_server) -> Account: ...        # send settings pointing at the server

        @pytest.fixture
        def send_server(self, smtp_server) -> SendServerProbe: ...   # what the server received

Capability flags switch tests off for servers that cannot do something.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, Protocol

import pytest
from attrs import frozen

from mailconduit._errors import AuthenticationError, ServerReplyError
from mailconduit._model import Account
from mailconduit._protocols import SendSession, SendTransport
from mailconduit._testing.contract_base import missing_fixture
from mailconduit._testing.contract_samples import sample_message
from mailconduit._types import Credentials

__all__ = ["AcceptedMail", "SendServerProbe", "SendTransportContract"]


@frozen(kw_only=True)
class AcceptedMail:
    """One message as the server under test received it.

    Attributes:
        envelope_from: the MAIL FROM address.
        recipients: the envelope recipients the server accepted.
        data: the message bytes after transport decoding (dot-unstuffed), as the client meant them.
    """

    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes


class SendServerProbe(Protocol):
    """What a send contract needs from the server behind the transport; your fixture provides it."""

    def received(self) -> Sequence[AcceptedMail]:
        """Every message the server accepted so far, oldest first."""
        ...

    def refuse_recipient(self, address: str) -> None:
        """Make the server refuse ``address`` at RCPT time with a 5xx reply."""
        ...

    def fail_next_message(self, code: int, reply: str) -> None:
        """Make the server refuse the next message as a whole with ``code`` and ``reply``."""
        ...


class SendTransportContract:
    """Base class of send transport tests; subclass it and override the fixtures below.

    Fixtures to override: ``transport`` (the transport under test), ``account`` (its ``send``
    settings point at the server), ``credentials`` (valid ones, or None when the server needs no
    login), ``bad_credentials`` (refused ones) and ``send_server`` (a ``SendServerProbe``).
    ``recipients`` (two addresses the server accepts) and ``refused_address`` have defaults.

    Capability flags (class attributes): ``requires_auth``, ``supports_recipient_refusal``,
    ``supports_scripted_failures``.
    """

    requires_auth: ClassVar[bool] = True
    supports_recipient_refusal: ClassVar[bool] = True
    supports_scripted_failures: ClassVar[bool] = True

    @pytest.fixture
    def transport(self) -> SendTransport:
        """The send transport under test."""
        missing_fixture("transport", "the SendTransport under test")

    @pytest.fixture
    def account(self) -> Account:
        """An account whose ``send`` settings reach the server under test."""
        missing_fixture("account", "an Account whose send settings reach your server")

    @pytest.fixture
    def credentials(self) -> Credentials | None:
        """Credentials the server accepts (None when it needs no login)."""
        missing_fixture("credentials", "Credentials your server accepts")

    @pytest.fixture
    def bad_credentials(self) -> Credentials:
        """Credentials the server refuses."""
        missing_fixture("bad_credentials", "Credentials your server refuses")

    @pytest.fixture
    def send_server(self) -> SendServerProbe:
        """The probe into the server under test."""
        missing_fixture("send_server", "a SendServerProbe over your server")

    @pytest.fixture
    def recipients(self) -> Sequence[str]:
        """Two recipients the server accepts."""
        return ("first@example.test", "second@example.test")

    @pytest.fixture
    def refused_address(self) -> str:
        """A recipient the test asks the server to refuse."""
        return "refused@example.test"

    @pytest.fixture
    def session(
        self, transport: SendTransport, account: Account, credentials: Credentials | None
    ) -> Iterator[SendSession]:
        """A session opened with the valid credentials, closed afterwards."""
        session = transport.open(account, credentials)
        try:
            yield session
        finally:
            session.close()

    # ------------------------------------------------------------------ tests

    def test_open_returns_a_session(self, session: SendSession) -> None:
        """``open`` logs in and returns an object with ``send`` and ``close``.

        How to fix: ``open(account, credentials)`` must connect, secure the connection as the
        account's ``tls`` says, log in with the credentials and return a ``SendSession``.
        """
        assert isinstance(session, SendSession)

    def test_sends_several_messages_over_one_session_byte_exact(
        self,
        session: SendSession,
        account: Account,
        send_server: SendServerProbe,
        recipients: Sequence[str],
    ) -> None:
        """Three messages over one session arrive in order, each byte for byte as given.

        How to fix: keep the connection open between ``send`` calls (reset the transaction, do
        not reconnect), send the bytes unchanged (dot-stuff lines starting with '.', keep CRLF,
        use 8BITMIME or binary-safe transfer) and report every recipient as accepted.
        """
        before = len(send_server.received())
        messages = [sample_message(n, sender=account.email, to=recipients[0]) for n in range(3)]
        for data in messages:
            result = session.send(account.email, list(recipients), data)
            assert [r.address for r in result.recipients] == list(recipients)
            assert result.refused == []
        got = list(send_server.received())[before:]
        assert [m.data for m in got] == messages
        assert all(m.envelope_from == account.email for m in got)
        assert all(sorted(m.recipients) == sorted(recipients) for m in got)

    def test_refused_recipient_is_reported_while_the_others_get_the_message(
        self,
        session: SendSession,
        account: Account,
        send_server: SendServerProbe,
        recipients: Sequence[str],
        refused_address: str,
    ) -> None:
        """A recipient the server refuses is reported in ``refused``; the others still get the mail.

        How to fix: on a 5xx reply to RCPT TO record a ``RecipientResult(accepted=False, code,
        reply)`` for that address and carry on with the others; send DATA if any was accepted.
        """
        if not self.supports_recipient_refusal:
            pytest.skip("capability off: supports_recipient_refusal")
        send_server.refuse_recipient(refused_address)
        before = len(send_server.received())
        result = session.send(account.email, [recipients[0], refused_address], sample_message(10))
        refused = result.refused
        assert [r.address for r in refused] == [refused_address]
        assert refused[0].code is not None and 500 <= refused[0].code < 600
        got = list(send_server.received())[before:]
        assert len(got) == 1
        assert got[0].recipients == (recipients[0],)

    @pytest.mark.parametrize(("code", "temporary"), [(451, True), (554, False)])
    def test_refused_message_raises_server_reply_error_with_its_class(
        self,
        *,
        session: SendSession,
        account: Account,
        send_server: SendServerProbe,
        recipients: Sequence[str],
        code: int,
        temporary: bool,
    ) -> None:
        """A 4xx refusal raises ``ServerReplyError(temporary=True)``, a 5xx one ``temporary=False``.

        How to fix: map the server's reply code to ``ServerReplyError(code=..., reply=...,
        temporary=400 <= code < 500)`` and quote the reply in the message.
        """
        if not self.supports_scripted_failures:
            pytest.skip("capability off: supports_scripted_failures")
        send_server.fail_next_message(code, "contract says no")
        with pytest.raises(ServerReplyError) as caught:
            session.send(account.email, list(recipients), sample_message(20))
        assert caught.value.temporary is temporary
        assert caught.value.code == code
        assert "contract says no" in caught.value.reply

    def test_session_still_sends_after_a_refused_message(
        self,
        session: SendSession,
        account: Account,
        send_server: SendServerProbe,
        recipients: Sequence[str],
    ) -> None:
        """After a refused message the same session sends the next one.

        How to fix: after an error reply reset the transaction (SMTP RSET) instead of leaving the
        session in a state where the next MAIL FROM fails.
        """
        if not self.supports_scripted_failures:
            pytest.skip("capability off: supports_scripted_failures")
        send_server.fail_next_message(550, "contract says no")
        with pytest.raises(ServerReplyError):
            session.send(account.email, list(recipients), sample_message(30))
        data = sample_message(31)
        session.send(account.email, list(recipients), data)
        assert send_server.received()[-1].data == data

    def test_bad_credentials_raise_authentication_error(
        self, transport: SendTransport, account: Account, request: pytest.FixtureRequest
    ) -> None:
        """Refused credentials raise ``AuthenticationError``, and its message does not show the secret.

        How to fix: catch the server's refusal of AUTH and raise ``AuthenticationError`` naming
        the user and the server, never the password or token.
        """
        if not self.requires_auth:
            pytest.skip("capability off: requires_auth")
        bad_credentials: Credentials = request.getfixturevalue("bad_credentials")
        with pytest.raises(AuthenticationError) as caught:
            transport.open(account, bad_credentials)
        assert bad_credentials.secret.reveal() not in str(caught.value)

    def test_close_never_raises(
        self, transport: SendTransport, account: Account, credentials: Credentials | None
    ) -> None:
        """``close`` may be called twice and after an error without raising.

        How to fix: make ``close`` idempotent and swallow errors of the goodbye (QUIT) exchange.
        """
        session = transport.open(account, credentials)
        session.close()
        session.close()
