r"""ScriptedServer: a line-based fake IMAP/POP3/SMTP server that follows a script and records the client.

For hostile-server tests (RELIABILITY.md B6, G1, H2, H3) where a real server would never misbehave::

    server = scripted_server([
        Send(b"* OK [CAPABILITY IMAP4rev1] fake ready\r\n"),
        Expect(rb"LOGIN"),                                 # read one line; the tag is remembered
        Send(b"{tag} OK logged in\r\n"),                  # "{tag}" = tag of the last line read
        Expect(rb"SELECT"),
        Send(HUGE_LITERAL),                               # "* 1 FETCH (BODY[] {1099511627776}"
    ])
    ... connect a client to server.port ...
    assert server.errors == []                            # every Expect matched
    assert server.received[1].startswith(b"A002 SELECT")

Steps: :class:`Send` (bytes as given), :class:`Expect` (one line, optional regex), :class:`ExpectBytes`
(an exact count, for literals), :class:`Repeat` (the same bytes N times or until the client
leaves: endless untagged responses), :class:`StartTls` (server side of STARTTLS/STLS: send the
"Begin TLS" reply, plus any injected bytes, first), :class:`Pause`, :class:`Close` (FIN or RST).
After the last step the server keeps reading and recording lines until the client closes. A script
may also be a function taking the :class:`ScriptedConnection`.

``scripted_server(*scripts, tls=False, cert=None)`` (fixture factory): connection *i* runs
``scripts[i]`` (the last one repeats); ``tls=True`` is implicit TLS with ``cert`` (default the
session's good certificate: pass ``issue_server_cert(test_ca, dir, "expired")`` etc. for TLS
failure tests). Each connection's lines are in ``server.connections[i].received``.
"""

from __future__ import annotations

import functools
import re
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Self

import pytest

from mailconduit._testing._procs import wait_until
from mailconduit._testing.ca import CertFiles

__all__ = [
    "HUGE_LITERAL",
    "Close",
    "Expect",
    "ExpectBytes",
    "Pause",
    "Repeat",
    "ScriptedConnection",
    "ScriptedServer",
    "Send",
    "StartTls",
    "long_line",
    "scripted_server",
]

HUGE_LITERAL = b"* 1 FETCH (UID 1 BODY[] {1099511627776}\r\n"
"""An IMAP literal announcing 1 TiB."""
_MAX_RECORDED_LINE = 1 << 20


def long_line(size: int = 10 * 1024 * 1024, fill: bytes = b"x") -> bytes:
    """``size`` bytes of ``fill`` without any CR or LF (a 10 MB line by default)."""
    return (fill * (size // len(fill) + 1))[:size]


@dataclass(frozen=True)
class Send:
    """Send ``data`` as given; ``{tag}`` becomes the tag (first word) of the last line read."""

    data: bytes


@dataclass(frozen=True)
class Expect:
    """Read one line from the client; a ``pattern`` (regex, searched) that fails is recorded in ``errors``."""

    pattern: bytes | None = None


@dataclass(frozen=True)
class ExpectBytes:
    """Read exactly ``count`` bytes (an IMAP literal, say) and record them as one entry."""

    count: int


@dataclass(frozen=True)
class Repeat:
    """Send ``data`` ``times`` times, or until the client leaves when ``times`` is None."""

    data: bytes
    times: int | None = None


@dataclass(frozen=True)
class StartTls:
    """Switch the connection to TLS (server side) with the server's certificate."""


@dataclass(frozen=True)
class Pause:
    """Send nothing for ``seconds`` (the server stopping ends it early)."""

    seconds: float


@dataclass(frozen=True)
class Close:
    """Close the connection now: FIN, or RST when ``rst`` is true."""

    rst: bool = False


Step = Send | Expect | ExpectBytes | Repeat | StartTls | Pause | Close
Script = Sequence[Step] | Callable[["ScriptedConnection"], None]


class ClientGone(Exception):
    """The client closed the connection (or the server is stopping)."""


@dataclass
class ScriptedConnection:
    """One client connection: the socket, what it sent, and the tag of the last line."""

    index: int
    sock: socket.socket
    stopping: threading.Event
    context: ssl.SSLContext | None
    received: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tag: bytes = b"*"
    tls_error: str | None = None
    closed: threading.Event = field(default_factory=threading.Event)
    _buffer: bytearray = field(default_factory=bytearray)

    def _fill(self) -> None:
        while not self.stopping.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            except OSError as exc:
                raise ClientGone(str(exc)) from None
            if not data:
                raise ClientGone("EOF")
            self._buffer += data
            return
        raise ClientGone("server stopping")

    def read_line(self) -> bytes:
        """Read and record one line (LF-terminated, CRLF kept); remember its tag."""
        while b"\n" not in self._buffer[:_MAX_RECORDED_LINE]:
            if len(self._buffer) >= _MAX_RECORDED_LINE:
                break
            self._fill()
        end = self._buffer.find(b"\n", 0, _MAX_RECORDED_LINE)
        size = end + 1 if end >= 0 else _MAX_RECORDED_LINE
        line = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.received.append(line)
        self.tag = line.split(b" ", 1)[0].strip() or b"*"
        return line

    def read_bytes(self, count: int) -> bytes:
        """Read and record exactly ``count`` bytes."""
        while len(self._buffer) < count:
            self._fill()
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        self.received.append(data)
        return data

    def send(self, data: bytes) -> None:
        """Send all of ``data`` (``{tag}`` replaced); the server stopping or the client leaving ends it."""
        view = memoryview(data.replace(b"{tag}", self.tag))
        while view:
            if self.stopping.is_set():
                raise ClientGone("server stopping")
            try:
                sent = self.sock.send(view[:65536])
            except (TimeoutError, ssl.SSLWantWriteError):
                continue
            except OSError as exc:
                raise ClientGone(str(exc)) from None
            view = view[sent:]

    def start_tls(self) -> None:
        """Wrap the socket in TLS, server side; plaintext the client pipelined is recorded and dropped."""
        if self.context is None:
            raise ValueError("StartTls needs a certificate: scripted_server(..., cert=...)")
        if self._buffer:
            self.received.append(bytes(self._buffer))
            self._buffer.clear()
        self.sock = self.handshake(self.sock)

    def handshake(self, sock: socket.socket) -> ssl.SSLSocket:
        """TLS handshake on ``sock``; a refusal is kept in ``tls_error`` and ends the connection."""
        assert self.context is not None
        sock.settimeout(10)
        try:
            wrapped = self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.tls_error = str(exc)
            raise ClientGone(f"TLS handshake failed: {exc}") from None
        wrapped.settimeout(0.05)
        return wrapped

    def close(self, rst: bool = False) -> None:
        """Close the connection (RST with ``rst``)."""
        try:
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()

    def run_step(self, step: Step) -> None:
        """Perform one script step."""
        if isinstance(step, Send):
            self.send(step.data)
        elif isinstance(step, Expect):
            line = self.read_line()
            if step.pattern is not None and not re.search(step.pattern, line):
                self.errors.append(f"step Expect({step.pattern!r}) got {line[:200]!r}")
        elif isinstance(step, ExpectBytes):
            self.read_bytes(step.count)
        elif isinstance(step, Repeat):
            block = step.data * max(1, 65536 // max(len(step.data), 1))
            per_block = len(block) // len(step.data)
            left = step.times
            while left is None or left > 0:
                count = per_block if left is None else min(per_block, left)
                self.send(block[: count * len(step.data)])
                left = None if left is None else left - count
        elif isinstance(step, StartTls):
            self.start_tls()
        elif isinstance(step, Pause):
            if self.stopping.wait(step.seconds):
                raise ClientGone("server stopping")
        else:
            self.close(step.rst)
            raise ClientGone("closed by the script")


class ScriptedServer:
    """A fake server on 127.0.0.1 running one script per connection; see the module docstring."""

    host = "127.0.0.1"

    def __init__(self, *scripts: Script, cert: CertFiles | None = None, tls: bool = False) -> None:
        """Prepare the server; :meth:`start` listens.

        Args:
            scripts: connection *i* runs ``scripts[i]``; the last one serves every later connection.
            cert: certificate for implicit TLS and :class:`StartTls`.
            tls: implicit TLS from the first byte.
        """
        if not scripts:
            raise ValueError("ScriptedServer needs at least one script")
        if tls and cert is None:
            raise ValueError("implicit TLS needs a certificate (cert=...)")
        self.scripts = scripts
        self.context = cert.server_context() if cert is not None else None
        self.tls = tls
        self.connections: list[ScriptedConnection] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.port = 0

    def start(self) -> Self:
        """Listen on a free loopback port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((self.host, 0))
        listener.listen(16)
        listener.settimeout(0.05)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        """Stop accepting, end every connection and join the threads."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def received(self) -> list[bytes]:
        """Every line received, over all connections, in connection order."""
        return [line for conn in list(self.connections) for line in conn.received]

    @property
    def errors(self) -> list[str]:
        """Script mismatches (``Expect`` patterns that failed) and unexpected exceptions."""
        return [f"connection {c.index}: {e}" for c in list(self.connections) for e in c.errors]

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> list[ScriptedConnection]:
        """Wait (deadline-polled) until ``count`` connections have finished."""
        wait_until(
            lambda: sum(c.closed.is_set() for c in self.connections) >= count,
            f"{count} finished scripted connections",
            timeout=timeout,
        )
        return list(self.connections)

    def _spawn(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"scripted-server-{self.port}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(0.05)
            with self._lock:
                conn = ScriptedConnection(len(self.connections), sock, self._stopping, self.context)
                self.connections.append(conn)
            script = self.scripts[min(conn.index, len(self.scripts) - 1)]
            self._spawn(functools.partial(self._serve, conn, script))

    def _serve(self, conn: ScriptedConnection, script: Script) -> None:
        try:
            if self.tls:
                conn.sock = conn.handshake(conn.sock)
            if callable(script):
                script(conn)
            else:
                for step in script:
                    conn.run_step(step)
            while True:  # after the script: record until the client leaves
                conn.read_line()
        except ClientGone:
            pass
        except Exception as exc:
            conn.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()
            conn.closed.set()


@pytest.fixture
def scripted_server(server_cert: CertFiles) -> Iterator[Callable[..., ScriptedServer]]:
    """Factory: ``scripted_server(*scripts, tls=False, cert=None)`` -> a started :class:`ScriptedServer`."""
    servers: list[ScriptedServer] = []

    def make(*scripts: Script, tls: bool = False, cert: CertFiles | None = None) -> ScriptedServer:
        server = ScriptedServer(*scripts, cert=cert or server_cert, tls=tls).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
