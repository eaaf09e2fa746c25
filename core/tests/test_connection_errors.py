"""connection_error and diagnose_connection: socket, TLS and timeout failures as errors and problem keys.

The TLS failures are real: a handshake over a local socket pair against a trustme certificate.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any, ClassVar

import pytest
from attrs import frozen

from mailconduit import (
    CONNECTION_PROBLEMS,
    AuthenticationError,
    ConfigError,
    Endpoint,
    ProtocolError,
    ServerReplyError,
    TlsError,
    TransportError,
    TransportTimeout,
    connection_error,
    diagnose_connection,
    exception_chain,
)


@frozen
class SmtpWhere(Endpoint):
    protocol: ClassVar[str] = "SMTP"
    section: ClassVar[str] = "send"


WHERE = Endpoint(account="support", host="mail.example.test", port=993, timeout=20.0)


def handshake_error(test_ca: Any, client_context: ssl.SSLContext, server_host: str) -> ssl.SSLError:
    """What the client's handshake raises against a server whose certificate names ``server_host``."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert(server_host).configure_cert(server_context)
    client, server = socket.socketpair()

    def serve() -> None:
        try:
            with server_context.wrap_socket(server, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with pytest.raises(ssl.SSLError) as caught:
            client_context.wrap_socket(client, server_hostname="mail.example.test").close()
        return caught.value
    finally:
        client.close()
        thread.join(10)
        server.close()


def eof_error() -> ssl.SSLError:
    """What the client's handshake raises when the server closes the connection at once."""
    client, server = socket.socketpair()
    server.shutdown(socket.SHUT_WR)  # reads the client's hello, answers with the end of the stream
    try:
        with pytest.raises(ssl.SSLError) as caught:
            ssl.create_default_context().wrap_socket(client, server_hostname="mail.example.test")
        return caught.value
    finally:
        client.close()
        server.close()


def mapped(exc: BaseException, where: Endpoint, stage: str) -> TransportError:
    """``connection_error``'s answer raised from ``exc``, as a plugin raises it."""
    error = connection_error(exc, where, stage)
    assert error is not None
    try:
        raise error from exc
    except TransportError as raised:
        return raised


def raised_from(exc: BaseException, inner: BaseException) -> BaseException:
    """``exc`` raised while handling ``inner`` (as a library hides the cause in ``__context__``)."""
    try:
        try:
            raise inner
        except BaseException:
            raise exc  # noqa: B904
    except BaseException as outer:
        return outer


def test_the_endpoint_names_account_protocol_and_server() -> None:
    assert str(WHERE) == "account 'support': mail server mail.example.test:993"
    assert str(SmtpWhere(account="out", host="h", port=587, timeout=5)) == "account 'out': SMTP server h:587"


def test_a_timeout_hidden_in_the_chain_is_a_transport_timeout() -> None:
    exc = raised_from(EOFError("Connection unexpectedly closed: timed out"), TimeoutError("timed out"))
    error = connection_error(exc, SmtpWhere(account="out", host="h", port=25, timeout=2), "RCPT TO")
    assert isinstance(error, TransportTimeout) and error.temporary is True
    assert str(error) == (
        "account 'out': SMTP server h:25: no answer within 2 s during RCPT TO; check that the server is "
        "reachable and responsive, or raise send.timeout"
    )


def test_refused_and_unresolvable_point_at_the_settings_section() -> None:
    refused = connection_error(ConnectionRefusedError(111, "Connection refused"), WHERE, "connect")
    assert type(refused) is TransportError
    assert str(refused) == (
        "account 'support': mail server mail.example.test:993: connection refused; check receive.host "
        "and receive.port and that the server runs"
    )
    smtp = SmtpWhere(account="out", host="h", port=25, timeout=2)
    wording = connection_error(ConnectionRefusedError(), smtp, "connect", refused_check="that it is up")
    assert str(wording).endswith("check send.host and send.port and that it is up")
    unresolvable = connection_error(socket.gaierror(-2, "Name or service not known"), WHERE, "connect")
    assert str(unresolvable) == (
        "account 'support': mail server mail.example.test:993: cannot resolve host name "
        "'mail.example.test': [Errno -2] Name or service not known; check receive.host"
    )


def test_an_untrusted_certificate_is_a_tls_error_naming_host_and_reason(test_ca: Any) -> None:
    failure = handshake_error(test_ca, ssl.create_default_context(), "mail.example.test")  # CA unknown
    error = mapped(failure, WHERE, "STARTTLS")
    assert isinstance(error, TlsError)
    assert str(error).startswith(
        "account 'support': mail server mail.example.test:993: the certificate of mail.example.test failed "
        "verification during STARTTLS: "
    )
    assert "(check_server_identity: false turns all checks off, for testing only)" in str(error)
    assert diagnose_connection(error) == "tls_untrusted"


def test_a_certificate_for_another_name_is_diagnosed_as_a_mismatch(test_ca: Any) -> None:
    context = ssl.create_default_context()
    test_ca.configure_trust(context)
    failure = handshake_error(test_ca, context, "other.example.test")
    error = mapped(failure, WHERE, "connect")
    assert isinstance(error, TlsError) and "mail.example.test" in str(error)
    assert diagnose_connection(error) == "tls_name_mismatch"


def test_other_ssl_errors_are_tls_failures_unless_eof_counts_as_lost() -> None:
    eof = eof_error()
    assert isinstance(eof, ssl.SSLEOFError | ssl.SSLZeroReturnError), repr(eof)
    error = mapped(eof, WHERE, "connect")
    assert isinstance(error, TlsError) and "TLS with mail.example.test failed during connect" in str(error)
    assert diagnose_connection(error) == "tls_failed"
    lost = connection_error(eof, WHERE, "connect", tls_eof_is_lost=True)
    assert type(lost) is TransportError
    assert str(lost) == (
        f"account 'support': mail server mail.example.test:993: connection lost during connect ({eof}); "
        "try again later"
    )


def test_a_transport_error_is_kept_and_anything_else_is_left_to_the_plugin() -> None:
    already = TransportTimeout("account 'support': RETR 1 did not complete within its deadline")
    assert connection_error(already, WHERE, "RETR") is already
    assert connection_error(ValueError("garbled"), WHERE, "FETCH") is None
    assert connection_error(ConnectionResetError(104, "reset"), WHERE, "FETCH") is None


def test_the_chain_is_walked_once_even_when_it_loops() -> None:
    a, b = ValueError("a"), KeyError("b")
    a.__context__, b.__context__ = b, a
    assert exception_chain(a) == [a, b]


@pytest.mark.parametrize(
    ("exc", "key"),
    [
        (TransportTimeout("slow"), "timeout"),
        (raised_from(OSError("lost"), TimeoutError()), "timeout"),
        (TlsError("handshake"), "tls_failed"),
        (AuthenticationError("no"), "auth_rejected"),
        (ServerReplyError("554 go away", reply="554 go away", temporary=False), "server_refused"),
        (ProtocolError("garbled"), "protocol"),
        (raised_from(TransportError("refused"), ConnectionRefusedError()), "refused"),
        (socket.gaierror(-2, "unknown"), "unresolvable"),
        (ConfigError([("accounts.a.send.host", "required")]), "config"),
        (TransportError("connection lost"), "connection_lost"),
    ],
)
def test_every_failure_has_a_problem_key_that_explains_it(exc: BaseException, key: str) -> None:
    assert diagnose_connection(exc) == key
    assert CONNECTION_PROBLEMS[key]
