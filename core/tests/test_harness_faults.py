"""FaultProxy: cuts, blackholes and drips observed by a real client through the proxy."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from mailconduit.testing import Fault, FaultProxy, wait_until

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


@pytest.fixture
def source() -> Iterator[tuple[int, list[bytes]]]:
    """A server that sends PAYLOAD to each client and records what each client sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    received: list[bytes] = []
    stopping = threading.Event()

    def handle(conn: socket.socket) -> None:
        chunks = []
        with conn:
            conn.settimeout(10)
            try:
                conn.sendall(PAYLOAD)
                conn.shutdown(socket.SHUT_WR)  # the client sees EOF after the whole payload
            except OSError:
                pass
            try:
                while data := conn.recv(65536):
                    chunks.append(data)
            except OSError:
                pass
        received.append(b"".join(chunks))

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], received
    stopping.set()
    thread.join(5)
    listener.close()


def read_until_end(sock: socket.socket) -> tuple[bytes, str]:
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return b"".join(chunks), "reset"
        except TimeoutError:
            return b"".join(chunks), "timeout"
        if not data:
            return b"".join(chunks), "eof"
        chunks.append(data)


@pytest.mark.parametrize(("rst", "ending"), [(True, "reset"), (False, "eof")])
@pytest.mark.parametrize("after", [0, 1, 7919, 65536, 100_000])
def test_cut_downstream_at_exactly_n_bytes(
    fault_proxy: Callable[..., FaultProxy],
    source: tuple[int, list[bytes]],
    after: int,
    rst: bool,
    ending: str,
) -> None:
    proxy = fault_proxy(source[0])
    proxy.set_fault(Fault.cut(after, rst=rst))
    try:
        client = socket.create_connection((proxy.host, proxy.port), timeout=10)
    except ConnectionResetError:  # a reset at byte 0 may already show in connect()
        data, how = b"", "reset"
    else:
        with client:
            data, how = read_until_end(client)
    if rst:
        # a reset discards what the client had not read yet (Linux drops its receive queue on RST),
        # so under load it may see fewer bytes; the proxy's own count below is the exact promise
        assert how == ending
        assert PAYLOAD[:after].startswith(data)
    else:
        assert (len(data), how) == (after, ending)
        assert data == PAYLOAD[:after]
    (conn,) = proxy.connections
    assert conn.triggered.is_set() and conn.sent["down"] == after


def test_cut_upstream_delivers_exactly_n_bytes_to_the_server(
    fault_proxy: Callable[..., FaultProxy], source: tuple[int, list[bytes]]
) -> None:
    port, received = source
    proxy = fault_proxy(port)
    proxy.queue(Fault.cut(1000, "up"))
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as client:
        client.sendall(b"u" * 5000)
        read_until_end(client)
    wait_until(lambda: received, "the source server to record the upload", timeout=10)
    assert received[0] == b"u" * 1000


def test_blackhole_is_seen_as_a_timeout_and_heal_restores(
    fault_proxy: Callable[..., FaultProxy], source: tuple[int, list[bytes]]
) -> None:
    proxy = fault_proxy(source[0])
    proxy.set_fault(Fault.blackhole(5000))
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as client:
        client.settimeout(0.3)
        data, how = read_until_end(client)
    assert (len(data), how) == (5000, "timeout")
    proxy.heal()
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as client:
        data, how = read_until_end(client)
    assert (data, how) == (PAYLOAD, "eof")


def test_drip_gives_many_small_reads(
    fault_proxy: Callable[..., FaultProxy], source: tuple[int, list[bytes]]
) -> None:
    proxy = fault_proxy(source[0])
    proxy.set_fault(Fault.drip(every=0.002, after=100))
    reads = []
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as client:
        while sum(len(r) for r in reads) < 160:
            reads.append(client.recv(65536))
    assert b"".join(reads)[:160] == PAYLOAD[: len(b"".join(reads))][:160]
    assert sum(len(r) == 1 for r in reads) >= 50  # the 60 dripped bytes came (nearly) one by one


def test_queue_applies_to_the_next_connections_only(
    fault_proxy: Callable[..., FaultProxy], source: tuple[int, list[bytes]]
) -> None:
    proxy = fault_proxy(source[0])
    proxy.queue(Fault.cut(10), None)
    proxy.set_fault(Fault.cut(20, rst=False))
    sizes = []
    for _ in range(3):
        with socket.create_connection((proxy.host, proxy.port), timeout=10) as client:
            client.settimeout(1)
            data, _ = read_until_end(client)
            sizes.append(len(data))
    assert sizes[0] == 10 and sizes[1] == len(PAYLOAD) and sizes[2] == 20
    assert [str(c.fault) for c in proxy.connections] == ["rst@10/down", "None", "fin@20/down"]
