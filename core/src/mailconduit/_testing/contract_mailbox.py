"""The contract suite every receive transport passes: ``MailboxContract``.

Subclass it and override the fixtures that supply the transport and a server you can put mail on::

    class TestImap(MailboxContract):
        supports_idle = True

        @pytest.fixture
        def transport(self) -> ReceiveTransport:
            return ImapTransport()

        @pytest.fixture
        def mail_server(self, dovecot) -> MailServerProbe: ...   # deliver() seeds the Maildir

The tests never assume an empty mailbox: they compare against what was there before they delivered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import ClassVar, Protocol

import pytest

from mailconduit._errors import AuthenticationError, TransportError
from mailconduit._model import Account
from mailconduit._protocols import MAILBOX_CAPABILITIES, Mailbox, ReceiveTransport
from mailconduit._testing.contract_base import missing_fixture
from mailconduit._testing.contract_samples import sample_message
from mailconduit._types import Credentials, MessageRef

__all__ = ["MailServerProbe", "MailboxContract"]

INBOX = "INBOX"


class MailServerProbe(Protocol):
    """What a mailbox contract needs from the server behind the transport; your fixture provides it."""

    def deliver(self, raw: bytes, folder: str = INBOX) -> None:
        """Put ``raw`` into ``folder`` of the account's mailbox, as a delivery would (no transport)."""
        ...

    def create_folder(self, folder: str) -> None:
        """Create ``folder`` in the account's mailbox if it does not exist."""
        ...


class MailboxContract:
    """Base class of receive transport tests; subclass it and override the fixtures below.

    Fixtures to override: ``transport``, ``account`` (its ``receive`` settings reach the server),
    ``credentials``, ``bad_credentials`` and ``mail_server`` (a ``MailServerProbe``).

    Capability flags (class attributes): ``has_uidvalidity`` (False for POP3), ``supports_folders``
    (other folders than INBOX), ``supports_delete``, ``supports_move``, ``supports_idle``,
    ``requires_auth``. The mailbox's own ``capabilities()`` must agree with them.
    """

    has_uidvalidity: ClassVar[bool] = True
    supports_folders: ClassVar[bool] = True
    supports_delete: ClassVar[bool] = True
    supports_move: ClassVar[bool] = True
    supports_idle: ClassVar[bool] = True
    requires_auth: ClassVar[bool] = True
    other_folder: ClassVar[str] = "Contract Archive"
    """The folder the move test creates and moves into (has a space: quote it on the wire)."""

    @pytest.fixture
    def transport(self) -> ReceiveTransport:
        """The receive transport under test."""
        missing_fixture("transport", "the ReceiveTransport under test")

    @pytest.fixture
    def account(self) -> Account:
        """An account whose ``receive`` settings reach the server under test."""
        missing_fixture("account", "an Account whose receive settings reach your server")

    @pytest.fixture
    def credentials(self) -> Credentials | None:
        """Credentials the server accepts."""
        missing_fixture("credentials", "Credentials your server accepts")

    @pytest.fixture
    def bad_credentials(self) -> Credentials:
        """Credentials the server refuses."""
        missing_fixture("bad_credentials", "Credentials your server refuses")

    @pytest.fixture
    def mail_server(self) -> MailServerProbe:
        """The probe that puts mail on the server under test."""
        missing_fixture("mail_server", "a MailServerProbe over your server")

    @pytest.fixture
    def mailbox(
        self, transport: ReceiveTransport, account: Account, credentials: Credentials | None
    ) -> Iterator[Mailbox]:
        """A mailbox opened with the valid credentials, closed afterwards."""
        mailbox = transport.open(account, credentials)
        try:
            yield mailbox
        finally:
            mailbox.close()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _keys(mailbox: Mailbox, folder: str = INBOX) -> list[str]:
        return [r.key for r in mailbox.list_new(folder, (), True, None)]

    @staticmethod
    def _deliver(server: MailServerProbe, numbers: Sequence[int]) -> list[bytes]:
        messages = [sample_message(n) for n in numbers]
        for data in messages:
            server.deliver(data)
        return messages

    @staticmethod
    def _data(mailbox: Mailbox, refs: Sequence[MessageRef], folder: str = INBOX) -> list[bytes]:
        return [raw.data for raw in mailbox.fetch(folder, refs)]

    # ------------------------------------------------------------------ tests

    def test_capabilities_agree_with_the_declared_flags(self, mailbox: Mailbox) -> None:
        """``capabilities()`` uses known names and reports what the suite's flags declare.

        How to fix: derive the set from the server's CAPABILITY reply (UIDPLUS -> ``delete``, MOVE
        -> ``move``, IDLE -> ``idle``); or correct the flags in your contract subclass.
        """
        capabilities = mailbox.capabilities()
        assert capabilities <= MAILBOX_CAPABILITIES
        declared = {
            "uidvalidity": self.has_uidvalidity,
            "folders": self.supports_folders,
            "delete": self.supports_delete,
            "idle": self.supports_idle,
        }
        assert {name: name in capabilities for name in declared} == declared

    def test_folders_list_inbox(self, mailbox: Mailbox) -> None:
        """``folders()`` lists ``INBOX``.

        How to fix: return the server's folder list as ``FolderInfo`` with decoded names; POP3
        returns just ``FolderInfo(name="INBOX")``.
        """
        assert INBOX in [f.name for f in mailbox.folders()]

    def test_state_reports_uidvalidity_and_exists(
        self, mailbox: Mailbox, mail_server: MailServerProbe
    ) -> None:
        """``state`` counts a new delivery and keeps the same UIDVALIDITY.

        How to fix: SELECT (or EXAMINE) the folder and report UIDVALIDITY and EXISTS from its
        reply, fresh on every call; POP3 reports ``uidvalidity=None`` and STAT's count.
        """
        before = mailbox.state(INBOX)
        mail_server.deliver(sample_message(100))
        after = mailbox.state(INBOX)
        assert after.folder == INBOX
        assert after.exists == before.exists + 1
        assert after.uidvalidity == before.uidvalidity
        assert (after.uidvalidity is not None) is self.has_uidvalidity

    def test_list_new_orders_limits_and_excludes_known(
        self, mailbox: Mailbox, mail_server: MailServerProbe
    ) -> None:
        """``list_new`` honours oldest/latest first, ``limit`` and the ``known`` keys.

        How to fix: list the UIDs (UIDLs) of the folder, drop those in ``known``, sort ascending
        for oldest first and descending for latest first, then cut to ``limit``.
        """
        known = self._keys(mailbox)
        messages = self._deliver(mail_server, [200, 201, 202])
        oldest = mailbox.list_new(INBOX, known, True, None)
        assert self._data(mailbox, oldest) == messages
        latest = mailbox.list_new(INBOX, known, False, None)
        assert [r.key for r in latest] == [r.key for r in reversed(oldest)]
        assert [r.key for r in mailbox.list_new(INBOX, known, True, 2)] == [r.key for r in oldest[:2]]
        assert [r.key for r in mailbox.list_new(INBOX, known, False, 2)] == [r.key for r in latest[:2]]
        without_first = mailbox.list_new(INBOX, [*known, oldest[0].key], True, None)
        assert [r.key for r in without_first] == [r.key for r in oldest[1:]]

    def test_fetch_is_byte_exact_and_does_not_change_what_is_new(
        self, mailbox: Mailbox, mail_server: MailServerProbe
    ) -> None:
        r"""Fetched bytes equal the delivered bytes, and fetching marks nothing: only ``known`` does.

        How to fix: fetch with ``BODY.PEEK[]`` (not ``RFC822``/``BODY[]``, which set ``\Seen``),
        return the literal untouched, and decide what is new from ``known`` alone.
        """
        known = self._keys(mailbox)
        messages = self._deliver(mail_server, [300, 301])
        refs = mailbox.list_new(INBOX, known, True, None)
        assert self._data(mailbox, refs) == messages
        assert mailbox.list_new(INBOX, known, True, None) == refs
        assert mailbox.list_new(INBOX, [*known, *(r.key for r in refs)], True, None) == []

    def test_delete_removes_exactly_the_given_refs(
        self, mailbox: Mailbox, mail_server: MailServerProbe
    ) -> None:
        """``delete`` removes the refs asked for and nothing else.

        How to fix: mark exactly these UIDs deleted and expunge only them (UID EXPUNGE, or MOVE to
        nowhere); never a plain EXPUNGE of the whole folder. POP3: DELE these and QUIT.
        """
        if not self.supports_delete:
            pytest.skip("capability off: supports_delete")
        known = self._keys(mailbox)
        messages = self._deliver(mail_server, [400, 401, 402])
        refs = mailbox.list_new(INBOX, known, True, None)
        exists = mailbox.state(INBOX).exists
        mailbox.delete(INBOX, [refs[1]])
        left = mailbox.list_new(INBOX, known, True, None)
        assert self._data(mailbox, left) == [messages[0], messages[2]]
        assert mailbox.state(INBOX).exists == exists - 1
        assert set(self._keys(mailbox)) >= set(known)

    def test_move_to_an_existing_folder(self, mailbox: Mailbox, mail_server: MailServerProbe) -> None:
        """``move`` takes exactly the refs out of the folder and into the target, bytes intact.

        How to fix: UID MOVE (or UID COPY + flag + UID EXPUNGE of these UIDs) to the target;
        quote folder names with spaces and encode non-ASCII ones (modified UTF-7).
        """
        if not (self.supports_folders and self.supports_move):
            pytest.skip("capability off: supports_folders/supports_move")
        mail_server.create_folder(self.other_folder)
        known = self._keys(mailbox)
        known_there = self._keys(mailbox, self.other_folder)
        messages = self._deliver(mail_server, [500, 501])
        refs = mailbox.list_new(INBOX, known, True, None)
        mailbox.move(INBOX, [refs[0]], self.other_folder)
        assert self._data(mailbox, mailbox.list_new(INBOX, known, True, None)) == [messages[1]]
        moved = mailbox.list_new(self.other_folder, known_there, True, None)
        assert self._data(mailbox, moved, self.other_folder) == [messages[0]]

    def test_move_to_a_missing_folder_raises_and_keeps_the_message(
        self, mailbox: Mailbox, mail_server: MailServerProbe
    ) -> None:
        """Moving to a folder that does not exist raises ``TransportError`` and leaves the mail in place.

        How to fix: do not create the target implicitly; map the server's NO/TRYCREATE reply to
        ``ServerReplyError`` naming the folder.
        """
        if not (self.supports_folders and self.supports_move):
            pytest.skip("capability off: supports_folders/supports_move")
        known = self._keys(mailbox)
        self._deliver(mail_server, [600])
        refs = mailbox.list_new(INBOX, known, True, None)
        with pytest.raises(TransportError) as caught:
            mailbox.move(INBOX, refs, "Contract Missing Folder")
        assert "Contract Missing Folder" in str(caught.value)
        assert mailbox.list_new(INBOX, known, True, None) == refs

    def test_wait_returns_true_when_mail_arrives(
        self, mailbox: Mailbox, mail_server: MailServerProbe
    ) -> None:
        """``wait`` returns True when a message is delivered while it waits.

        How to fix: enter IDLE, return True on an untagged EXISTS (or RECENT), False on timeout,
        and always leave IDLE with DONE before returning.
        """
        if not self.supports_idle:
            pytest.skip("capability off: supports_idle")
        mailbox.state(INBOX)
        stop = threading.Event()

        def keep_delivering() -> None:  # until wait() answers, so no delivery can slip in before it
            number = 700
            while not stop.wait(0.2):
                mail_server.deliver(sample_message(number))
                number += 1

        thread = threading.Thread(target=keep_delivering, daemon=True)
        thread.start()
        try:
            woke = mailbox.wait(INBOX, 30.0)
        finally:
            stop.set()
            thread.join()
        assert woke is True

    def test_wait_returns_false_on_timeout(self, mailbox: Mailbox) -> None:
        """``wait`` returns False when nothing arrives before the timeout.

        How to fix: bound the IDLE wait by ``timeout`` and return False when it passes quietly.
        """
        if not self.supports_idle:
            pytest.skip("capability off: supports_idle")
        assert mailbox.wait(INBOX, 0.3) is False

    def test_bad_credentials_raise_authentication_error(
        self, transport: ReceiveTransport, account: Account, request: pytest.FixtureRequest
    ) -> None:
        """Refused credentials raise ``AuthenticationError`` without the secret in its message.

        How to fix: map the server's NO/-ERR to LOGIN/AUTHENTICATE/PASS to ``AuthenticationError``
        naming the user and server, never the password or token.
        """
        if not self.requires_auth:
            pytest.skip("capability off: requires_auth")
        bad_credentials: Credentials = request.getfixturevalue("bad_credentials")
        with pytest.raises(AuthenticationError) as caught:
            transport.open(account, bad_credentials)
        assert bad_credentials.secret.reveal() not in str(caught.value)

    def test_close_never_raises(
        self, transport: ReceiveTransport, account: Account, credentials: Credentials | None
    ) -> None:
        """``close`` may be called twice without raising.

        How to fix: make ``close`` idempotent and swallow errors of LOGOUT/QUIT.
        """
        mailbox = transport.open(account, credentials)
        mailbox.close()
        mailbox.close()
