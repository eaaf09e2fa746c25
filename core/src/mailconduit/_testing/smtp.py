"""An aiosmtpd SMTP server on 127.0.0.1 that records everything: plain, STARTTLS and implicit TLS.

Fixture ``smtp_server`` (per test, ~0.05 s to start): a started :class:`SmtpServer` with three
listeners sharing one :class:`SmtpRecorder`:

* ``plain_port``: no TLS at all, AUTH PLAIN/LOGIN allowed in cleartext;
* ``starttls_port``: STARTTLS required before MAIL and AUTH (EHLO offers AUTH only after it);
* ``tls_port``: implicit TLS (SMTPS), AUTH offered (aiosmtpd issues #274/#281 worked around).

The certificate comes from the session's ``test_ca``. ``smtp_server.add_user()`` returns a
:class:`~mailconduit._testing.dovecot.MailUser` for AUTH. Every accepted DATA is a
:class:`ReceivedMail` in ``smtp_server.messages`` (envelope, ``data`` exactly as received after
dot-unstuffing, the AUTH user, TLS or not); every connection is an :class:`SmtpSession` whose
``transcript`` holds each line received (raw, CRLF kept) and each reply sent, in order. AUTH lines
are recorded as received (base64 secrets included): do not print transcripts of canary secrets.

Faults for retry tests: ``smtp_server.inject("RCPT", "450 4.2.0 try later", times=2)`` answers
the next two RCPTs with that reply; ``inject("DATA", None)`` drops the connection after the final
dot without a reply (the message is still recorded, with ``reply=None``); ``match=`` limits a fault
to arguments containing a string (one recipient address, say).

More AUTH mechanisms: subclass :class:`SmtpRecorder` and add ``async def auth_<MECH>(self, server,
args)`` returning an ``aiosmtpd.smtp.AuthResult`` (aiosmtpd finds and advertises it), then pass
``SmtpServer(cert, recorder=MyRecorder())``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Self

import pytest

from mailconduit._testing._procs import free_port, wait_until
from mailconduit._testing.ca import CertFiles
from mailconduit._testing.canaries import canary
from mailconduit._testing.dovecot import MailUser, _check_password
from mailconduit._testing.require import missing_server

__all__ = ["ReceivedMail", "SmtpFault", "SmtpRecorder", "SmtpServer", "SmtpSession", "smtp_server"]

Listener = Literal["plain", "starttls", "tls"]
FaultCommand = Literal["EHLO", "MAIL", "RCPT", "DATA"]
AUTH_LINE_LIMIT = 16384  # an AUTH XOAUTH2 line with a 1.2 KB token is ~1,700 bytes


@dataclass
class SmtpSession:
    """One client connection.

    Attributes:
        listener: ``plain``, ``starttls`` or ``tls``.
        peer: the client's address.
        tls: whether the channel is encrypted now (implicit TLS, or after STARTTLS).
        auth_user: the user of a successful AUTH, else None.
        transcript: ``("C", raw line)`` for each line received (CRLF kept, DATA lines too) and
            ``("S", reply line)`` for each reply sent, in order.
        closed: set when the connection ended.
    """

    listener: Listener
    peer: Any
    tls: bool = False
    auth_user: str | None = None
    transcript: list[tuple[str, bytes]] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event, repr=False)
    _partial: bytes = field(default=b"", repr=False)

    def received(self) -> list[bytes]:
        """Every line the client sent, as received."""
        return [line for side, line in self.transcript if side == "C"]

    def replies(self) -> list[bytes]:
        """Every reply line the server sent (no CRLF)."""
        return [line for side, line in self.transcript if side == "S"]

    def commands(self) -> list[str]:
        """The command verbs the client sent (upper case), DATA content and AUTH answers left out."""
        verbs = []
        in_data = False
        for side, line in self.transcript:
            if side == "S":
                in_data = line.startswith(b"354")
                continue
            if in_data:
                continue
            word = line.split(b" ", 1)[0].strip().upper()
            if word.isalpha() and len(word) <= 10:
                verbs.append(word.decode())
        return verbs


@dataclass(frozen=True)
class ReceivedMail:
    """A message the server received (the DATA phase completed).

    Attributes:
        listener: which listener took it.
        mail_from: the MAIL FROM address.
        rcpt_tos: accepted RCPT TO addresses.
        mail_options: MAIL FROM parameters (``SIZE=…``, ``BODY=8BITMIME`` …).
        rcpt_options: RCPT TO parameters.
        data: the message bytes exactly as received (dot-unstuffed, final CRLF kept).
        auth_user: the AUTH user of the session, else None.
        tls: whether the session was encrypted.
        reply: the reply sent after the final dot, or None when a fault dropped the connection.
    """

    listener: Listener
    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    rcpt_options: tuple[str, ...]
    data: bytes
    auth_user: str | None
    tls: bool
    reply: str | None


@dataclass
class SmtpFault:
    """A scripted reply for a command: ``reply=None`` drops the connection instead of answering.

    Attributes:
        command: ``EHLO``, ``MAIL``, ``RCPT`` or ``DATA`` (after the final dot).
        reply: the reply line(s) to send (``"451 4.3.0 try again"``), or None to drop.
        times: how many matching commands it answers; None for all.
        match: only arguments containing this string (case-insensitive).
    """

    command: FaultCommand
    reply: str | None
    times: int | None = 1
    match: str | None = None


class SmtpRecorder:
    """aiosmtpd handler: users, recorded sessions and messages, injected faults."""

    def __init__(self) -> None:
        """Start with no users, nothing recorded and no faults."""
        self.users: dict[str, str] = {}
        self.sessions: list[SmtpSession] = []
        self.messages: list[ReceivedMail] = []
        self.faults: list[SmtpFault] = []
        self.lock = threading.Lock()

    def open_session(self, listener: Listener, peer: Any, tls: bool) -> SmtpSession:
        """Record a new connection."""
        session = SmtpSession(listener, peer, tls)
        with self.lock:
            self.sessions.append(session)
        return session

    def take_fault(self, command: FaultCommand, argument: str) -> SmtpFault | None:
        """Return (and count down) the first fault for ``command`` matching ``argument``."""
        with self.lock:
            for fault in self.faults:
                if fault.command != command or (fault.match and fault.match.lower() not in argument.lower()):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        """Check PLAIN and LOGIN credentials against :attr:`users`."""
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        ok = self.users.get(login) == auth_data.password.decode("utf-8", "replace")
        if ok:
            server.record.auth_user = login
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    @staticmethod
    def _apply(server: Any, fault: SmtpFault) -> str:
        if fault.reply is None:
            server.transport.abort()
            return "421 4.4.2 connection dropped by the harness"
        return fault.reply

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Answer EHLO, unless a fault says otherwise."""
        fault = self.take_fault("EHLO", hostname)
        if fault is not None:
            return [self._apply(server, fault)]
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        """Accept MAIL FROM, unless a fault says otherwise."""
        fault = self.take_fault("MAIL", address)
        if fault is not None:
            return self._apply(server, fault)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept RCPT TO, unless a fault says otherwise."""
        fault = self.take_fault("RCPT", address)
        if fault is not None:
            return self._apply(server, fault)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Record the message; reply 250 unless a fault says otherwise."""
        fault = self.take_fault("DATA", envelope.mail_from or "")
        with self.lock:
            serial = len(self.messages) + 1
        reply = f"250 2.0.0 OK queued as mc{serial}" if fault is None else fault.reply
        record: SmtpSession = server.record
        mail = ReceivedMail(
            listener=record.listener,
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            mail_options=tuple(envelope.mail_options),
            rcpt_options=tuple(envelope.rcpt_options),
            data=bytes(envelope.original_content),
            auth_user=record.auth_user,
            tls=record.tls,
            reply=reply,
        )
        with self.lock:
            self.messages.append(mail)
        if fault is not None:
            return self._apply(server, fault)
        return f"250 2.0.0 OK queued as mc{serial}"


def _quiet_login_data(record: logging.LogRecord) -> bool:
    """Drop aiosmtpd's own deprecation notice, logged on every successful AUTH."""
    return "login_data is deprecated" not in record.getMessage()


@functools.cache
def _controller_class() -> type[Any]:
    """Build the aiosmtpd subclasses on first use (aiosmtpd is a test-only dependency)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class RecordingSMTP(SMTP):
        line_length_limit = AUTH_LINE_LIMIT

        def __init__(self, handler: SmtpRecorder, listener: Listener, **kwargs: Any) -> None:
            super().__init__(handler, **kwargs)
            self.command_size_limits["AUTH"] = AUTH_LINE_LIMIT
            self.listener = listener
            self.record = SmtpSession(listener, None)

        def connection_made(self, transport: Any) -> None:
            after_starttls = self._original_transport is not None
            super().connection_made(transport)
            if after_starttls:
                self.record.tls = True
                return
            implicit = transport.get_extra_info("ssl_object") is not None
            peer = transport.get_extra_info("peername")
            self.record = self.event_handler.open_session(self.listener, peer, implicit)
            if implicit:  # aiosmtpd does not know an implicit-TLS channel is encrypted
                self._auth_require_tls = False

        def data_received(self, data: bytes) -> None:
            record = self.record
            lines = (record._partial + data).split(b"\n")
            record._partial = lines.pop()
            record.transcript.extend(("C", line + b"\n") for line in lines)
            super().data_received(data)

        async def push(self, status: Any) -> None:
            raw = status.encode("utf-8") if isinstance(status, str) else bytes(status)
            self.record.transcript.extend(("S", line) for line in raw.split(b"\r\n"))
            await super().push(status)

        def connection_lost(self, error: Exception | None) -> None:
            if self.record._partial:
                self.record.transcript.append(("C", self.record._partial))
                self.record._partial = b""
            self.record.closed.set()
            super().connection_lost(error)

    class RecordingController(Controller):
        def __init__(self, handler: SmtpRecorder, listener: Listener, **kwargs: Any) -> None:
            self.listener = listener
            super().__init__(handler, **kwargs)

        def factory(self) -> Any:
            return RecordingSMTP(self.handler, self.listener, **self.SMTP_kwargs)

    return RecordingController


class SmtpServer:
    """Three aiosmtpd listeners (plain, STARTTLS, implicit TLS) sharing one recorder."""

    host = "127.0.0.1"

    def __init__(
        self,
        cert: CertFiles,
        *,
        recorder: SmtpRecorder | None = None,
        auth_required: bool = False,
        data_size_limit: int | None = 33_554_432,
        hostname: str = "mx.example.test",
    ) -> None:
        """Prepare the listeners; :meth:`start` runs them.

        Args:
            cert: the server certificate for STARTTLS and implicit TLS.
            recorder: the handler (a subclass adds AUTH mechanisms); default a new one.
            auth_required: refuse MAIL before a successful AUTH.
            data_size_limit: largest message in bytes (None: no limit).
            hostname: the name in the greeting and EHLO reply.
        """
        self.cert = cert
        self.recorder = recorder or SmtpRecorder()
        self._options = {
            "auth_required": auth_required,
            "data_size_limit": data_size_limit,
            "server_hostname": hostname,
            "enable_SMTPUTF8": True,
        }
        self._controllers: dict[Listener, Any] = {}
        self.ports: dict[Listener, int] = {}

    def start(self) -> Self:
        """Start the three listeners (each ~0.02 s)."""
        controller = _controller_class()
        aiosmtpd_log = logging.getLogger("mail.log")
        # aiosmtpd traces every line of every session at DEBUG; pytest keeps each captured record of
        # a test in memory, so a long sweep of multi-megabyte sessions would grow by gigabytes
        if aiosmtpd_log.level in (logging.NOTSET, logging.DEBUG):
            aiosmtpd_log.setLevel(logging.INFO)
        if _quiet_login_data not in aiosmtpd_log.filters:
            aiosmtpd_log.addFilter(_quiet_login_data)
        context = self.cert.server_context()
        auth = {"authenticator": self.recorder.authenticator}
        setups: dict[Listener, dict[str, Any]] = {
            "plain": {"auth_require_tls": False},
            "starttls": {"tls_context": context, "require_starttls": True},
            "tls": {"ssl_context": context},
        }
        try:
            for listener, extra in setups.items():
                port = free_port()
                server = controller(
                    self.recorder,
                    listener,
                    hostname=self.host,
                    port=port,
                    **auth,
                    **self._options,
                    **extra,
                )
                server.start()
                self._controllers[listener] = server
                self.ports[listener] = port
        except BaseException:
            self.stop()
            raise
        with self.recorder.lock:  # the controllers' own readiness probes are not client sessions
            self.recorder.sessions.clear()
        return self

    def stop(self) -> None:
        """Stop every listener."""
        while self._controllers:
            _, server = self._controllers.popitem()
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def plain_port(self) -> int:
        """Cleartext SMTP, AUTH allowed without TLS, no STARTTLS."""
        return self.ports["plain"]

    @property
    def starttls_port(self) -> int:
        """SMTP with STARTTLS required before AUTH and MAIL."""
        return self.ports["starttls"]

    @property
    def tls_port(self) -> int:
        """Implicit-TLS SMTP (SMTPS)."""
        return self.ports["tls"]

    @property
    def messages(self) -> list[ReceivedMail]:
        """Messages received so far, in order."""
        with self.recorder.lock:
            return list(self.recorder.messages)

    @property
    def sessions(self) -> list[SmtpSession]:
        """Connections so far, in order."""
        with self.recorder.lock:
            return list(self.recorder.sessions)

    def forget(self) -> None:
        """Drop the messages and session transcripts recorded so far (long sweeps keep memory flat).

        A transcript keeps every line a client sent, DATA included: hundreds of multi-megabyte
        sessions would otherwise grow the test process by gigabytes.
        """
        with self.recorder.lock:
            self.recorder.messages.clear()
            self.recorder.sessions.clear()

    def add_user(self, name: str | None = None, password: str | None = None) -> MailUser:
        """Add an AUTH PLAIN/LOGIN user; a unique name and random password unless given."""
        import secrets

        user = MailUser(
            name or f"smtp{len(self.recorder.users) + 1}-{secrets.token_hex(3)}",
            password or canary("password"),
        )
        _check_password(user.password)
        self.recorder.users[user.name] = user.password
        return user

    def inject(
        self, command: FaultCommand, reply: str | None, *, times: int | None = 1, match: str | None = None
    ) -> SmtpFault:
        """Answer the next ``times`` matching ``command``s with ``reply`` (None: drop the connection)."""
        fault = SmtpFault(command, reply, times, match)
        with self.recorder.lock:
            self.recorder.faults.append(fault)
        return fault

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait (deadline-polled) until ``count`` messages arrived; return them all."""
        wait_until(lambda: len(self.recorder.messages) >= count, f"{count} SMTP messages", timeout=timeout)
        return self.messages


@pytest.fixture
def smtp_server(server_cert: CertFiles) -> Iterator[SmtpServer]:
    """A recording SMTP server with plain, STARTTLS and implicit-TLS listeners (new per test)."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        missing_server("aiosmtpd", "pip install 'mailconduit[testing]'")
    with SmtpServer(server_cert) as server:
        yield server
