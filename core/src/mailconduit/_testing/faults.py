"""FaultProxy: a TCP proxy on 127.0.0.1 that cuts, blackholes or drips a connection at a chosen byte.

Put it between a client and any server (Dovecot, the SMTP fixture, a scripted server)::

    proxy = fault_proxy(dovecot.imaps_port)          # fixture: a started proxy, stopped after the test
    proxy.set_fault(Fault.cut(after=7919))          # every new connection: RST after 7,919 bytes down
    client = imaplib.IMAP4_SSL(proxy.host, proxy.port, ssl_context=ctx)

Faults (``direction``: ``"down"`` = server to client, ``"up"`` = client to server; ``after`` counts
bytes forwarded in that direction, TLS bytes included):

* ``Fault.cut(after, rst=True)``: forward exactly ``after`` bytes, wait until they left the proxy's
  socket, then reset both sides (``SO_LINGER`` 0) or, with ``rst=False``, close them with a FIN.
  The client reads exactly ``after`` bytes, then ``ConnectionResetError`` (or EOF).
* ``Fault.blackhole(after)``: forward ``after`` bytes, then forward nothing more in either
  direction while keeping both sockets open (data is read and dropped): the client sees a timeout.
* ``Fault.drip(every=0.01, after=0, chunk=1)``: after ``after`` bytes, forward ``chunk`` bytes
  (default one) every ``every`` seconds: the client sees many one-byte reads, or, with a larger
  ``chunk``, a slow but steady stream of ``chunk / every`` bytes per second at most.

``set_fault(f)`` applies to every later connection; ``queue(f1, None, f2)`` to the next ones in
order (None = clean) before falling back to the default; ``heal()`` makes later connections clean
(open ones keep their fault). ``proxy.connections`` records each connection's fault and byte counts.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import select
import socket
import struct
import termios
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Self

import pytest

from mailconduit._testing._procs import wait_until

__all__ = ["Fault", "FaultProxy", "ProxyConnection", "fault_proxy"]

Direction = Literal["down", "up"]
FaultKind = Literal["cut", "blackhole", "drip"]
_CHUNK = 65536
_BUFFER_LIMIT = 1 << 20
_DRAIN_TIMEOUT = 5.0


@dataclass(frozen=True)
class Fault:
    """What happens to one proxied connection; build with :meth:`cut`, :meth:`blackhole`, :meth:`drip`."""

    kind: FaultKind
    after: int = 0
    direction: Direction = "down"
    rst: bool = True
    every: float = 0.01
    chunk: int = 1

    @classmethod
    def cut(cls, after: int, direction: Direction = "down", *, rst: bool = True) -> Fault:
        """Cut the connection (RST, or FIN with ``rst=False``) after ``after`` bytes in ``direction``."""
        return cls("cut", after, direction, rst=rst)

    @classmethod
    def blackhole(cls, after: int, direction: Direction = "down") -> Fault:
        """Stop forwarding both ways after ``after`` bytes in ``direction``; sockets stay open."""
        return cls("blackhole", after, direction)

    @classmethod
    def drip(
        cls, every: float = 0.01, direction: Direction = "down", *, after: int = 0, chunk: int = 1
    ) -> Fault:
        """Forward ``chunk`` bytes per ``every`` seconds in ``direction`` after the first ``after`` bytes."""
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        return cls("drip", after, direction, every=every, chunk=chunk)

    def __str__(self) -> str:
        name = ("rst" if self.rst else "fin") if self.kind == "cut" else self.kind
        return f"{name}@{self.after}/{self.direction}"


@dataclass
class ProxyConnection:
    """One proxied connection.

    Attributes:
        index: 0 for the first connection through the proxy.
        fault: the fault applied, or None.
        sent: bytes forwarded per direction (``"up"``, ``"down"``).
        triggered: set when the fault took effect (cut done, blackhole started).
        closed: set when the proxy closed both sides.
    """

    index: int
    fault: Fault | None
    sent: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    triggered: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)


def _unsent(sock: socket.socket) -> int:
    """Bytes still in the socket's send queue (not yet acknowledged by the peer)."""
    value = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
    unsent: int = struct.unpack("i", value)[0]
    return unsent


def _close(sock: socket.socket, rst: bool) -> None:
    try:
        if rst:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class _Pipe:
    """Forwarding state of one connection: a select loop over both sockets in one thread."""

    def __init__(self, conn: ProxyConnection, client: socket.socket, upstream: socket.socket) -> None:
        self.conn = conn
        self.fault = conn.fault
        self.src = {"up": client, "down": upstream}
        self.dst = {"up": upstream, "down": client}
        self.buf = {"up": bytearray(), "down": bytearray()}
        self.eof = {"up": False, "down": False}
        self.next_drip = 0.0
        self.blackholed = False

    def allowed(self, direction: str, now: float) -> int:
        """How many buffered bytes may be forwarded now."""
        pending = len(self.buf[direction])
        fault = self.fault
        if self.blackholed or fault is None or fault.direction != direction:
            return pending
        room = fault.after - self.conn.sent[direction]
        if fault.kind != "drip":
            return min(pending, max(room, 0))
        if room > 0:
            return min(pending, room)
        return min(pending, fault.chunk) if now >= self.next_drip else 0

    def limit_reached(self) -> bool:
        fault = self.fault
        return fault is not None and fault.kind != "drip" and self.conn.sent[fault.direction] >= fault.after

    def trigger(self) -> bool:
        """Apply a cut or blackhole that is due; True when the connection is over."""
        fault = self.fault
        assert fault is not None
        if fault.kind == "blackhole":
            self.blackholed = True
            for direction in ("up", "down"):
                self.buf[direction].clear()
            self.conn.triggered.set()
            return False
        target = self.dst[fault.direction]  # let the last forwarded bytes reach the peer first
        deadline = time.monotonic() + _DRAIN_TIMEOUT
        while _unsent(target) and time.monotonic() < deadline:
            time.sleep(0.001)
        self.conn.triggered.set()
        for sock in (self.src["up"], self.src["down"]):
            _close(sock, fault.rst)
        return True

    def run(self, stopping: threading.Event) -> None:
        try:
            self._loop(stopping)
        finally:
            for sock in (self.src["up"], self.src["down"]):
                if sock.fileno() != -1:
                    sock.close()
            self.conn.closed.set()

    def _loop(self, stopping: threading.Event) -> None:
        for sock in self.src.values():
            sock.setblocking(False)
        while not stopping.is_set():
            if not self.blackholed and self.limit_reached() and self.trigger():
                return
            now = time.monotonic()
            readers = [
                self.src[d] for d in ("up", "down") if not self.eof[d] and len(self.buf[d]) < _BUFFER_LIMIT
            ]
            writers = [self.dst[d] for d in ("up", "down") if self.allowed(d, now)]
            if not readers and not writers and all(self.eof.values()):
                return
            timeout = 0.05
            if self.fault is not None and self.fault.kind == "drip" and self.buf[self.fault.direction]:
                timeout = max(0.0, min(timeout, self.next_drip - now))
            readable, writable, _ = select.select(readers, writers, [], timeout)
            for direction in ("up", "down"):
                if self.src[direction] in readable and not self._read(direction):
                    return
            now = time.monotonic()
            for direction in ("up", "down"):
                if self.dst[direction] in writable and not self._write(direction, now):
                    return

    def _read(self, direction: str) -> bool:
        try:
            data = self.src[direction].recv(_CHUNK)
        except BlockingIOError:
            return True
        except OSError:  # reset by one side: reset the other too
            _close(self.dst[direction], rst=True)
            return False
        if not data:
            if self.blackholed and direction == "up":  # the client gave up on the dead connection
                return False
            self.eof[direction] = True  # a server's FIN is swallowed by the blackhole too
            if not self.buf[direction] and not self.blackholed:
                self._half_close(direction)
            return True
        if not self.blackholed:
            self.buf[direction] += data
        return True

    def _write(self, direction: str, now: float) -> bool:
        count = self.allowed(direction, now)
        try:
            sent = self.dst[direction].send(self.buf[direction][:count])
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                raise
            _close(self.src[direction], rst=True)
            return False
        del self.buf[direction][:sent]
        self.conn.sent[direction] += sent
        if self.fault is not None and self.fault.kind == "drip" and self.fault.direction == direction:
            self.next_drip = now + self.fault.every
        if self.eof[direction] and not self.buf[direction]:
            self._half_close(direction)
        return True

    def _half_close(self, direction: str) -> None:
        with contextlib.suppress(OSError):
            self.dst[direction].shutdown(socket.SHUT_WR)


class FaultProxy:
    """A fault-injecting TCP proxy from ``127.0.0.1:port`` to ``target_host:target_port``."""

    host = "127.0.0.1"

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        """Prepare a proxy to ``target_host:target_port``; :meth:`start` listens."""
        self.target = (target_host, target_port)
        self.default: Fault | None = None
        self.connections: list[ProxyConnection] = []
        self._queue: deque[Fault | None] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self.port = 0

    def start(self) -> Self:
        """Listen on a free loopback port and start accepting."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(64)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._spawn(self._accept_loop, "accept")
        return self

    def stop(self) -> None:
        """Close everything and join the threads (~0.05 s)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_fault(self, fault: Fault | None) -> None:
        """Apply ``fault`` to every later connection (None: forward cleanly)."""
        with self._lock:
            self.default = fault

    def queue(self, *faults: Fault | None) -> None:
        """Apply ``faults`` to the next connections, one each, before the default applies again."""
        with self._lock:
            self._queue.extend(faults)

    def heal(self) -> None:
        """Make every later connection clean (drops queued faults and the default)."""
        with self._lock:
            self._queue.clear()
            self.default = None

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> list[ProxyConnection]:
        """Wait (deadline-polled) until ``count`` connections were accepted."""
        wait_until(lambda: len(self.connections) >= count, f"{count} proxied connections", timeout=timeout)
        return list(self.connections)

    def settled(self, direction: Direction = "down") -> int:
        """Bytes forwarded in ``direction`` on the last connection, once the proxy has counted them all.

        A client may read a reply before the proxy's thread adds what it forwarded to its count:
        this waits until the count holds still for 20 ms. Use it to measure where a reply starts
        (``Fault.drip(after=proxy.settled())``) or that nothing more was sent.
        """
        conn = self.connections[-1]
        while True:
            count = conn.sent[direction]
            time.sleep(0.02)
            if conn.sent[direction] == count:
                return count

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"fault-proxy-{self.port}-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            readable, _, _ = select.select([self._listener], [], [], 0.05)
            if not readable:
                continue
            client, _ = self._listener.accept()
            with self._lock:
                fault = self._queue.popleft() if self._queue else self.default
                conn = ProxyConnection(len(self.connections), fault)
                self.connections.append(conn)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client, rst=True)
                conn.closed.set()
                continue
            pipe = _Pipe(conn, client, upstream)
            self._spawn(functools.partial(pipe.run, self._stopping), f"conn-{conn.index}")


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Factory: ``fault_proxy(target_port, target_host="127.0.0.1")`` -> a started :class:`FaultProxy`."""
    proxies: list[FaultProxy] = []

    def make(target_port: int, target_host: str = "127.0.0.1") -> FaultProxy:
        proxy = FaultProxy(target_port, target_host).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
