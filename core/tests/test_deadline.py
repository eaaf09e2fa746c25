"""CommandDeadline and CommandClock (RELIABILITY.md B3), over a local socket pair: no server needed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from attrs import define

from mailconduit import CommandClock, CommandDeadline, ReceiveSettings, TransportTimeout


@define(frozen=True, kw_only=True)
class DeadlineSettings(ReceiveSettings):
    """The keys imap and pop3 add to ``receive:`` for the deadline."""

    command_deadline: timedelta | None = None
    min_transfer_rate: int = 8 * 1024


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    yield client, server
    client.close()
    server.close()


def test_the_default_is_three_timeouts_and_8_kib_per_second() -> None:
    assert CommandDeadline.default(20.0) == CommandDeadline(base=60.0, min_rate=8192)
    plain = ReceiveSettings(protocol="x", host="h", timeout=timedelta(seconds=7))
    assert CommandDeadline.of(plain) == CommandDeadline(base=21.0, min_rate=8192)


def test_the_settings_keys_set_base_and_rate() -> None:
    unset = DeadlineSettings(protocol="x", host="h", timeout=timedelta(seconds=10))
    assert CommandDeadline.of(unset) == CommandDeadline(base=30.0, min_rate=8192)
    configured = DeadlineSettings(
        protocol="x", host="h", command_deadline=timedelta(seconds=90), min_transfer_rate=1 << 20
    )
    assert CommandDeadline.of(configured) == CommandDeadline(base=90.0, min_rate=1 << 20)


def test_every_byte_received_earns_one_over_the_rate() -> None:
    deadline = CommandDeadline(base=1.5, min_rate=1000)
    assert deadline.allowed(0) == 1.5
    assert deadline.allowed(50_000) == 51.5


def test_bytes_received_extend_what_the_command_has_left(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    clock = CommandClock(CommandDeadline(base=60.0, min_rate=100), "server", read_timeout=5.0)
    clock.start("RETR 1")
    server.sendall(b"x" * 1000)
    received = b""
    while len(received) < 1000:
        received += clock.recv(client, 4096)
    assert received == b"x" * 1000
    assert 60.0 < clock.left() <= 70.0  # 10 s earned; the wait itself took a little off
    clock.start("RETR 2")
    assert 59.0 < clock.left() <= 60.0, "a new command starts again at its base"


def test_a_silent_server_fails_the_command_at_its_deadline(pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    server.sendall(b"+OK 12 bytes")
    clock = CommandClock(CommandDeadline(base=0.2, min_rate=4096), "account 'inbox': POP3 server h:110", 10.0)
    clock.start("RETR 7")
    assert clock.recv(client, 100) == b"+OK 12 bytes"
    with pytest.raises(TransportTimeout) as caught:
        clock.recv(client, 100)  # nothing more comes: waits what is left of 0.2 s, not 10 s
    assert caught.value.temporary is True
    assert str(caught.value) == (
        "account 'inbox': POP3 server h:110: RETR 7 did not complete within its deadline of 0.2 s "
        "(0.2 s receive.command_deadline + 12 bytes received at receive.min_transfer_rate 4096 bytes/s); "
        "the server is stalling or sending too slowly, so the connection is dropped. Try again later "
        "(or raise receive.command_deadline or lower receive.min_transfer_rate)"
    )
    assert clock.left() <= 0
    with pytest.raises(TransportTimeout, match="RETR 7 did not complete"):
        clock.recv(client, 100)  # past the deadline: fails before it waits at all


def test_a_read_timeout_shorter_than_the_deadline_is_left_to_the_caller(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    client, _server = pair
    clock = CommandClock(CommandDeadline(base=60.0, min_rate=4096), "server", read_timeout=0.1)
    with pytest.raises(TimeoutError) as caught:
        clock.recv(client, 100)
    assert not isinstance(caught.value, TransportTimeout), "the caller names a plain read timeout"
    assert clock.command == "greeting" and 59.0 < clock.left() < 60.0
