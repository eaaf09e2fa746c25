"""The ``maildir`` transports: atomic delivery, exact bytes, errors, keys that survive a reader, config."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from mailconduit import (
    Account,
    ConfigError,
    HeaderInjectionError,
    PluginSet,
    ServerReplyError,
    load_config,
    load_plugins,
)
from mailconduit.testing import sample_message
from mailconduit_example_maildir import (
    MaildirError,
    MaildirReceiveSettings,
    MaildirReceiveTransport,
    MaildirSendSettings,
    MaildirSendTransport,
    plugin,
)
from mailconduit_example_maildir._maildir import is_temporary, key_of, unique_name


def files(maildir: Path, sub: str) -> list[Path]:
    return sorted((maildir / sub).iterdir())


def test_delivery_lands_in_new_with_trace_headers_and_leaves_tmp_empty(
    send_account: Account, maildir: Path
) -> None:
    data = sample_message(1)
    session = MaildirSendTransport().open(send_account, None)
    result = session.send("sender@example.test", ["a@example.test", "b@example.test"], data)
    assert [r.accepted for r in result.recipients] == [True, True]
    (delivered,) = files(maildir, "new")
    assert result.reply == f"delivered as new/{delivered.name}"
    assert delivered.read_bytes() == (
        b"Return-Path: <sender@example.test>\r\nDelivered-To: a@example.test\r\n"
        b"Delivered-To: b@example.test\r\n" + data
    )
    assert files(maildir, "tmp") == [] and files(maildir, "cur") == []
    assert stat.S_IMODE(delivered.stat().st_mode) == 0o600
    assert all(stat.S_IMODE((maildir / sub).stat().st_mode) == 0o700 for sub in ("tmp", "new", "cur"))


def test_without_trace_headers_the_file_is_the_message_and_lf_stays_lf(maildir: Path) -> None:
    account = Account(
        name="local",
        email="s@example.test",
        send=MaildirSendSettings(protocol="maildir", path=maildir, trace_headers=False),
    )
    data = b"From: s@example.test\nSubject: lf only\n\nbody\n"
    MaildirSendTransport().open(account, None).send("s@example.test", ["r@example.test"], data)
    assert [p.read_bytes() for p in files(maildir, "new")] == [data]


def test_trace_headers_follow_the_message_line_ending(send_account: Account, maildir: Path) -> None:
    data = b"Subject: lf\n\nbody\n"
    MaildirSendTransport().open(send_account, None).send("s@example.test", ["r@example.test"], data)
    assert files(maildir, "new")[0].read_bytes() == (
        b"Return-Path: <s@example.test>\nDelivered-To: r@example.test\n" + data
    )


def test_names_are_unique_and_sort_in_delivery_order(send_account: Account, maildir: Path) -> None:
    session = MaildirSendTransport().open(send_account, None)
    for n in range(20):
        session.send("s@example.test", ["r@example.test"], sample_message(n))
    delivered = files(maildir, "new")
    assert len({p.name for p in delivered}) == 20
    assert [p.read_bytes().count(f"contract sample {n}\r\n".encode()) for n, p in enumerate(delivered)] == [
        1
    ] * 20


def test_a_missing_maildir_is_an_error_when_create_is_off(tmp_path: Path) -> None:
    path = tmp_path / "nowhere"
    account = Account(
        name="local",
        email="s@example.test",
        send=MaildirSendSettings(protocol="maildir", path=path, create=False),
    )
    with pytest.raises(MaildirError) as caught:
        MaildirSendTransport().open(account, None)
    assert str(path) in str(caught.value) and "check the path" in str(caught.value)
    assert caught.value.temporary is False
    assert not path.exists()


def test_a_file_in_the_way_is_a_permanent_transport_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a maildir")
    account = Account(
        name="local",
        email="s@example.test",
        send=MaildirSendSettings(protocol="maildir", path=blocker / "Maildir"),
    )
    with pytest.raises(ConnectionError) as caught:  # MaildirError is a TransportError (ConnectionError)
        MaildirSendTransport().open(account, None)
    assert isinstance(caught.value, MaildirError) and caught.value.temporary is False


def test_a_delivery_never_replaces_an_existing_file(
    send_account: Account, maildir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailconduit_example_maildir import _maildir

    monkeypatch.setattr(_maildir, "unique_name", lambda now=None: "1700000000.M000001P1Rfixed.host")
    session = MaildirSendTransport().open(send_account, None)
    session.send("s@example.test", ["r@example.test"], b"Subject: first\r\n\r\n1\r\n")
    with pytest.raises(MaildirError) as caught:
        session.send("s@example.test", ["r@example.test"], b"Subject: second\r\n\r\n2\r\n")
    assert "File exists" in str(caught.value)
    assert [p.read_bytes().endswith(b"Subject: first\r\n\r\n1\r\n") for p in files(maildir, "new")] == [True]
    assert files(maildir, "tmp") == []


def test_header_injection_in_the_envelope_delivers_nothing(send_account: Account, maildir: Path) -> None:
    session = MaildirSendTransport().open(send_account, None)
    with pytest.raises(HeaderInjectionError) as caught:
        session.send("s@example.test", ["r@example.test\r\nBcc: evil@example.test"], sample_message(1))
    assert caught.value.field == "recipient"
    assert files(maildir, "new") == []


def test_a_closed_session_sends_nothing(send_account: Account, maildir: Path) -> None:
    session = MaildirSendTransport().open(send_account, None)
    session.close()
    with pytest.raises(ConnectionError):
        session.send("s@example.test", ["r@example.test"], sample_message(1))
    assert files(maildir, "new") == []


@pytest.mark.parametrize(
    ("code", "temporary"),
    [
        (errno.ENOSPC, True),
        (errno.EDQUOT, True),
        (errno.EIO, True),
        (errno.EACCES, False),
        (errno.ENOTDIR, False),
    ],
)
def test_which_errors_are_worth_a_retry(code: int, temporary: bool) -> None:
    assert is_temporary(OSError(code, os.strerror(code))) is temporary


def test_unique_name_carries_time_pid_and_no_separator() -> None:
    name = unique_name(1_700_000_000.25)
    assert name.startswith(f"1700000000.M250000P{os.getpid()}R")
    assert ":" not in name and "/" not in name
    assert key_of(name + ":2,S") == name


# ------------------------------------------------------------------------------- receiving


def test_send_then_receive_round_trip_byte_exact(tmp_path: Path) -> None:
    path = tmp_path / "box"
    sender = Account(
        name="out",
        email="s@example.test",
        send=MaildirSendSettings(protocol="maildir", path=path, trace_headers=False),
    )
    reader = Account(
        name="in", email="r@example.test", receive=MaildirReceiveSettings(protocol="maildir", path=path)
    )
    session = MaildirSendTransport().open(sender, None)
    sent = [sample_message(n) for n in range(3)]
    for data in sent:
        session.send("s@example.test", ["r@example.test"], data)
    mailbox = MaildirReceiveTransport().open(reader, None)
    refs = mailbox.list_new("INBOX", (), True, None)
    assert [raw.data for raw in mailbox.fetch("INBOX", refs)] == sent
    assert mailbox.state("INBOX").exists == 3


def test_a_key_survives_a_reader_moving_the_file_to_cur(receive_account: Account, maildir: Path) -> None:
    mailbox = MaildirReceiveTransport().open(receive_account, None)
    (maildir / "new" / "1700000000.M000001P1.host").write_bytes(sample_message(1))
    (ref,) = mailbox.list_new("INBOX", (), True, None)
    os.rename(maildir / "new" / ref.key, maildir / "cur" / f"{ref.key}:2,S")
    assert mailbox.list_new("INBOX", [ref.key], True, None) == []
    assert [raw.data for raw in mailbox.fetch("INBOX", [ref])] == [sample_message(1)]
    assert [p.name for p in files(maildir, "cur")] == [f"{ref.key}:2,S"]  # reading renamed nothing
    mailbox.delete("INBOX", [ref])
    assert files(maildir, "cur") == [] and mailbox.state("INBOX").exists == 0


def test_a_missing_maildir_is_not_read_as_empty(tmp_path: Path) -> None:
    account = Account(
        name="in",
        email="r@example.test",
        receive=MaildirReceiveSettings(protocol="maildir", path=tmp_path / "typo"),
    )
    with pytest.raises(MaildirError):
        MaildirReceiveTransport().open(account, None)


def test_no_other_folder_and_no_move(receive_account: Account) -> None:
    mailbox = MaildirReceiveTransport().open(receive_account, None)
    assert [f.name for f in mailbox.folders()] == ["INBOX"]
    with pytest.raises(ServerReplyError, match="only INBOX"):
        mailbox.state("Archive")
    with pytest.raises(ServerReplyError, match="only INBOX"):
        mailbox.move("INBOX", [], "Archive")


# ----------------------------------------------------------------------------------- config


def plugins() -> PluginSet:
    """Only the built-ins and this plugin, whatever else is installed."""
    return load_plugins(autoload=False, extra=[("example_maildir", plugin)])


def test_yaml_selects_the_maildir_settings(tmp_path: Path) -> None:
    config = load_config(
        f"""
accounts:
  local:
    email: s@example.test
    send: {{protocol: maildir, path: {tmp_path / "out"}, trace_headers: false}}
    receive: {{protocol: maildir, path: {tmp_path / "in"}, after_replication: delete}}
""",
        plugins(),
    )
    account = config.account("local")
    assert account.send == MaildirSendSettings(protocol="maildir", path=tmp_path / "out", trace_headers=False)
    assert isinstance(account.receive, MaildirReceiveSettings) and account.receive.path == tmp_path / "in"


def test_yaml_mistakes_are_reported_at_their_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            """
accounts:
  local:
    email: s@example.test
    send: {protocol: maildir, path: Maildir, tarce_headers: false}
    receive: {protocol: maildir}
""",
            plugins(),
        )
    problems = dict(caught.value.problems)
    assert problems["accounts.local.send.path"] == "must be an absolute path, got 'Maildir'"
    assert "unknown key" in problems["accounts.local.send.tarce_headers"]
    assert "trace_headers" in problems["accounts.local.send.tarce_headers"]
    assert problems["accounts.local.receive.path"] == "is required (missing)"
