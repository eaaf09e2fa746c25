"""Per-command deadlines (RELIABILITY.md B3): a server that drips its reply cannot hold a command forever.

``receive.timeout`` bounds each wait for the next bytes, so a server that sends one byte every few
seconds never trips it. Every command of a receive transport that reads its own socket (imap, pop3)
therefore also has a deadline, checked on every read::

    deadline = command_deadline + (bytes received for the command) / min_transfer_rate

* ``command_deadline`` (default :attr:`CommandDeadline.TIMEOUTS` x ``receive.timeout``: 60 s with
  the default 20 s) is what any command may take, whatever its size;
* every byte that arrives adds ``1 / min_transfer_rate`` seconds (default 8 KiB/s), so a bulk
  download (IMAP FETCH, POP3 RETR) earns time in proportion to what it downloads: a 50 MB message
  arriving at 100 KB/s is never cut off, while a server dripping one byte every 10 ms (100 B/s)
  earns about 1% extra and fails soon after ``command_deadline``. A reply that starts within
  ``command_deadline`` and then arrives at ``min_transfer_rate`` or faster never hits the deadline,
  however large.

The allowance is earned per byte *received*, not per byte announced: a 100 MB literal or LIST size
announced and then dripped earns nothing for the announcement. Only the time spent waiting for the
server counts, so the time the application spends on messages already handed over is not charged
to the server; each reply of a pipeline may have a deadline of its own (:meth:`CommandClock.start`).
When the deadline passes, the read fails with a temporary ``TransportTimeout`` naming the command
and the deadline; the caller drops the connection (its state is unknown) and nothing stored before
is touched: the next run resumes.
"""

from __future__ import annotations

import socket
import time
from typing import ClassVar

from attrs import frozen

from mailconduit._errors import TransportTimeout
from mailconduit._model import ReceiveSettings

__all__ = ["CommandClock", "CommandDeadline"]


@frozen
class CommandDeadline:
    """How long a command may take: ``base`` seconds plus one second per ``min_rate`` bytes received.

    >>> CommandDeadline(base=60, min_rate=8192).allowed(8192 * 10)
    70.0

    Attributes:
        base: the seconds any command may take, whatever its size (``receive.command_deadline``).
        min_rate: bytes per second a reply must average to earn its time
            (``receive.min_transfer_rate``); at least 1.
    """

    TIMEOUTS: ClassVar[int] = 3
    """Without ``receive.command_deadline``, a command's base deadline is this many ``receive.timeout``."""
    DEFAULT_MIN_RATE: ClassVar[int] = 8 * 1024
    """Bytes per second a reply must average to earn its time when ``receive.min_transfer_rate`` is unset."""

    base: float
    min_rate: int

    @classmethod
    def default(cls, timeout: float) -> CommandDeadline:
        """The deadline of a connection with per-read ``timeout`` and no deadline settings of its own."""
        return cls(base=cls.TIMEOUTS * timeout, min_rate=cls.DEFAULT_MIN_RATE)

    @classmethod
    def of(cls, settings: ReceiveSettings) -> CommandDeadline:
        """The deadline of an account's ``receive:`` settings (defaults for keys it does not have).

        Reads ``command_deadline`` (a ``timedelta`` or None) and ``min_transfer_rate`` (bytes per
        second) where the transport's settings class has them, else the defaults.
        """
        timeout = settings.timeout.total_seconds()
        base = getattr(settings, "command_deadline", None)
        rate = getattr(settings, "min_transfer_rate", cls.DEFAULT_MIN_RATE)
        return cls(
            base=base.total_seconds() if base is not None else cls.TIMEOUTS * timeout,
            min_rate=int(rate),
        )

    def allowed(self, received: int) -> float:
        """Seconds of waiting a command may spend once it has received ``received`` bytes."""
        return self.base + received / self.min_rate


class CommandClock:
    """The deadline of the command whose reply is being read; every ``recv`` goes through :meth:`recv`.

    ``where`` only names the server in errors (its ``str``); ``read_timeout`` bounds each single
    wait (the caller maps its expiry, a plain ``TimeoutError``, to its own message).

    Attributes:
        policy: the :class:`CommandDeadline` every command gets.
        where: what names the server in errors.
        read_timeout: the longest single wait for data, in seconds.
        command: the command whose reply is being read (``"greeting"`` until :meth:`start`).
    """

    def __init__(self, policy: CommandDeadline, where: object, read_timeout: float) -> None:
        self.policy = policy
        self.where = where
        self.read_timeout = read_timeout
        self.command = "greeting"
        self._waited = 0.0
        self._received = 0

    def start(self, command: str) -> None:
        """A new command (or the next reply of a pipeline): its deadline starts now, at ``base``."""
        self.command = command
        self._waited = 0.0
        self._received = 0

    def left(self) -> float:
        """Seconds of waiting this command has left."""
        policy = self.policy  # on every read: no method call
        return policy.base + self._received / policy.min_rate - self._waited

    def recv(self, sock: socket.socket, size: int) -> bytes:
        """``sock.recv(size)`` within the deadline.

        Raises:
            TransportTimeout: the command's deadline passed.
            TimeoutError: ``read_timeout`` passed without data (the caller names it).
            OSError: whatever ``recv`` raises otherwise.
        """
        left = self.left()
        if left <= 0:
            raise self.expired()
        wait = min(self.read_timeout, left)
        if sock.gettimeout() != wait:
            sock.settimeout(wait)
        started = time.monotonic()
        try:
            data = sock.recv(size)
        except TimeoutError:
            self._waited += time.monotonic() - started
            if wait < self.read_timeout:
                raise self.expired() from None
            raise
        self._waited += time.monotonic() - started
        self._received += len(data)
        return data

    def expired(self) -> TransportTimeout:
        """The error for a command past its deadline."""
        policy = self.policy
        return TransportTimeout(
            f"{self.where}: {self.command} did not complete within its deadline of "
            f"{policy.allowed(self._received):.1f} s "
            f"({policy.base:g} s receive.command_deadline + {self._received} bytes received at "
            f"receive.min_transfer_rate {policy.min_rate} bytes/s); the server is stalling or sending "
            "too slowly, so the connection is dropped. Try again later (or raise "
            "receive.command_deadline or lower receive.min_transfer_rate)"
        )
