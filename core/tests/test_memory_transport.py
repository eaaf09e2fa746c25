"""The ``memory`` transport beyond its contract suites: naming, scripting, stale refs, shared mailboxes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from mailconduit import (
    Account,
    AuthenticationError,
    Credentials,
    PasswordAuth,
    Secret,
    ServerReplyError,
    TransportError,
    load_plugins,
)
from mailconduit.testing import MemoryReceiveSettings, MemorySendSettings, MemoryServer, sample_message

PLUGINS = load_plugins(autoload=False)
_names = itertools.count()


def account(host: str, *, shared: str | None = None) -> Account:
    return Account(
        name="alice",
        email="alice@example.test",
        shared_mailbox=shared,
        auth=PasswordAuth(password=Secret("pw")),
        send=MemorySendSettings(protocol="memory", host=host),
        receive=MemoryReceiveSettings(protocol="memory", host=host),
    )


def creds(
    username: str = "alice@example.test", secret: str = "pw", authzid: str | None = None
) -> Credentials:
    return Credentials(kind="password", username=username, secret=Secret(secret), authzid=authzid)


@pytest.fixture
def server() -> Iterator[MemoryServer]:
    with MemoryServer(f"memory-test-{next(_names)}", users={"alice@example.test": "pw"}) as server:
        yield server


def test_a_name_can_run_once_and_is_released_afterwards() -> None:
    with MemoryServer("memory-test-unique"), pytest.raises(ValueError, match="already running"):
        MemoryServer("memory-test-unique").__enter__()
    with MemoryServer("memory-test-unique"):
        pass


def test_no_running_server_is_a_transport_error_naming_the_host() -> None:
    with pytest.raises(TransportError, match="no memory server named 'nowhere'"):
        PLUGINS.send_transport("memory").open(account("nowhere"), creds())


def test_refusing_every_recipient_refuses_the_message(server: MemoryServer) -> None:
    server.refuse_recipient("a@example.test")
    session = PLUGINS.send_transport("memory").open(account(server.name), creds())
    with pytest.raises(ServerReplyError) as caught:
        session.send("alice@example.test", ["a@example.test"], sample_message(1))
    assert caught.value.temporary is False
    assert caught.value.code == 550
    assert server.sent == []


def test_sent_mail_records_the_login(server: MemoryServer) -> None:
    session = PLUGINS.send_transport("memory").open(account(server.name), creds())
    result = session.send("alice@example.test", ["b@example.test"], b"x\r\n")
    assert result.reply.startswith("250 ")
    assert server.sent[0].username == "alice@example.test"
    assert server.sessions_opened == 1


def test_a_closed_session_refuses_to_send(server: MemoryServer) -> None:
    session = PLUGINS.send_transport("memory").open(account(server.name), creds())
    session.close()
    with pytest.raises(TransportError, match="closed"):
        session.send("alice@example.test", ["b@example.test"], b"x\r\n")


def test_unknown_user_is_refused_without_the_password_in_the_message(server: MemoryServer) -> None:
    with pytest.raises(AuthenticationError) as caught:
        PLUGINS.receive_transport("memory").open(account(server.name), creds("mallory", "s3cr3t-value"))
    assert "mallory" in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)


def test_shared_mailbox_is_opened_through_authzid(server: MemoryServer) -> None:
    server.deliver("helpdesk@example.test", sample_message(1))
    mailbox = PLUGINS.receive_transport("memory").open(
        account(server.name, shared="helpdesk@example.test"), creds(authzid="helpdesk@example.test")
    )
    refs = mailbox.list_new("INBOX", (), True, None)
    assert [raw.data for raw in mailbox.fetch("INBOX", refs)] == [sample_message(1)]


def test_stale_refs_after_a_uidvalidity_change_touch_nothing(server: MemoryServer) -> None:
    """A ref from before UIDVALIDITY changed must not fetch, delete or move the new message with its UID."""
    server.deliver("alice@example.test", sample_message(1))
    mailbox = PLUGINS.receive_transport("memory").open(account(server.name), creds())
    (stale,) = mailbox.list_new("INBOX", (), True, None)
    old_validity = mailbox.state("INBOX").uidvalidity
    server.recreate("alice@example.test")
    assert mailbox.state("INBOX").uidvalidity != old_validity
    server.folder("alice@example.test", "Archive")
    assert list(mailbox.fetch("INBOX", [stale])) == []
    mailbox.delete("INBOX", [stale])
    mailbox.move("INBOX", [stale], "Archive")
    assert server.messages("alice@example.test") == {1: sample_message(1)}
    assert server.messages("alice@example.test", "Archive") == {}


def test_state_of_a_missing_folder_is_a_server_reply_error(server: MemoryServer) -> None:
    mailbox = PLUGINS.receive_transport("memory").open(account(server.name), creds())
    with pytest.raises(ServerReplyError, match="'Nope' does not exist"):
        mailbox.state("Nope")


def test_wait_without_idle_support_returns_false_at_once(server: MemoryServer) -> None:
    server.supports_idle = False
    mailbox = PLUGINS.receive_transport("memory").open(account(server.name), creds())
    assert mailbox.wait("INBOX", 3600.0) is False
