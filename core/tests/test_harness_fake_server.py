"""ScriptedServer: hostile replies reach a real client; every line the client sent is recorded."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from mailconduit.testing import (
    HUGE_LITERAL,
    Close,
    Expect,
    Repeat,
    ScriptedServer,
    Send,
    StartTls,
    issue_server_cert,
    long_line,
)

GREETING = Send(b"* OK fake ready\r\n")
CAPABILITY = [
    Expect(rb"^\w+ CAPABILITY"),
    Send(b"* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\n{tag} OK done\r\n"),
]


def test_huge_literal_is_delivered_and_lines_recorded(
    scripted_server: Callable[..., ScriptedServer],
) -> None:
    server = scripted_server(
        [
            GREETING,
            *CAPABILITY,
            Expect(rb"^\w+ LOGIN "),
            Send(b"{tag} OK logged in\r\n"),
            Expect(rb"SELECT"),
            Send(b"* 1 EXISTS\r\n{tag} OK [READ-WRITE] selected\r\n"),
            Expect(rb"FETCH"),
            Send(HUGE_LITERAL),
            Close(),
        ]
    )
    client = imaplib.IMAP4(server.host, server.port, timeout=10)
    client.login("alice", "not-a-secret")
    client.select("INBOX")
    with pytest.raises((imaplib.IMAP4.abort, OSError, OverflowError, MemoryError)):
        client.fetch("1", "(UID BODY[])")
    server.wait_for_connections(1)
    assert server.errors == []
    lines = server.received
    assert lines[1].endswith(b' LOGIN alice "not-a-secret"\r\n')
    assert lines[2].endswith(b" SELECT INBOX\r\n")
    assert b"FETCH 1 (UID BODY[])" in lines[3]


def test_ten_megabyte_line_and_endless_untagged(scripted_server: Callable[..., ScriptedServer]) -> None:
    server = scripted_server([Send(long_line())], [Repeat(b"* 1 EXISTS\r\n")])
    with socket.create_connection((server.host, server.port), timeout=10) as first:
        got = 0
        while got < 10 * 1024 * 1024:
            chunk = first.recv(1 << 20)
            assert b"\n" not in chunk and chunk
            got += len(chunk)
    with socket.create_connection((server.host, server.port), timeout=10) as second:
        got = b""
        while got.count(b"EXISTS") < 100_000:
            got += second.recv(1 << 20)
    assert set(got.split(b"\r\n")[:-1]) == {b"* 1 EXISTS"}


def test_pipelined_fake_ok_after_begin_tls_is_sent_in_plaintext(
    scripted_server: Callable[..., ScriptedServer], client_ssl_context: ssl.SSLContext
) -> None:
    server = scripted_server(
        [
            Send(b"* OK fake ready\r\n"),
            Expect(rb"STARTTLS"),
            Send(b"{tag} OK Begin TLS\r\nA0002 OK injected\r\n"),
        ],
        [
            GREETING,
            *CAPABILITY,
            Expect(rb"STARTTLS"),
            Send(b"{tag} OK Begin TLS negotiation now\r\nA0002 OK LOGIN completed (injected)\r\n"),
            StartTls(),
            Expect(rb"CAPABILITY"),
            Send(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n"),
        ],
    )
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        reader = raw.makefile("rb")
        assert reader.readline().startswith(b"* OK")
        raw.sendall(b"A0001 STARTTLS\r\n")
        assert reader.readline() == b"A0001 OK Begin TLS\r\n"
        assert reader.readline() == b"A0002 OK injected\r\n"  # the injection arrives in plaintext
        reader.close()
    # imaplib drops its read buffer when it wraps the socket, so the TLS session still works
    client = imaplib.IMAP4(server.host, server.port, timeout=10)
    client.starttls(ssl_context=client_ssl_context)
    assert client.sock.version() is not None
    client.shutdown()
    server.wait_for_connections(2)
    assert server.errors == []
    assert [line.split(b" ", 1)[1] for line in server.connections[1].received[:3]] == [
        b"CAPABILITY\r\n",
        b"STARTTLS\r\n",
        b"CAPABILITY\r\n",
    ]


def test_bye_mid_command_over_implicit_tls_with_pop3_and_smtp(
    scripted_server: Callable[..., ScriptedServer], client_ssl_context: ssl.SSLContext
) -> None:
    pop = scripted_server(
        [Send(b"+OK fake pop\r\n"), Expect(rb"^USER "), Send(b"-ERR go away\r\n"), Close()], tls=True
    )
    client = poplib.POP3_SSL(pop.host, pop.port, context=client_ssl_context, timeout=10)
    with pytest.raises(poplib.error_proto, match="go away"):
        client.user("bob")
    smtp = scripted_server(
        [Send(b"220 fake\r\n"), Expect(rb"^(EHLO|ehlo) "), Send(b"421 4.3.2 bye\r\n"), Close(rst=True)]
    )
    refused = (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError)
    with pytest.raises(refused), smtplib.SMTP(smtp.host, smtp.port, timeout=10) as s:
        s.ehlo()
        s.noop()
    pop.wait_for_connections(1)
    smtp.wait_for_connections(1)
    assert pop.received == [b"USER bob\r\n"]
    assert smtp.received[0].lower().startswith(b"ehlo ")
    assert pop.errors == [] and smtp.errors == []


@pytest.mark.parametrize("kind", ["wrong_host", "expired", "self_signed", "unknown_ca"])
def test_bad_certificates_are_refused_by_a_verifying_client(
    scripted_server: Callable[..., ScriptedServer],
    client_ssl_context: ssl.SSLContext,
    test_ca: object,
    tmp_path: Path,
    kind: str,
) -> None:
    cert = issue_server_cert(test_ca, tmp_path, kind)  # type: ignore[arg-type]
    server = scripted_server([Send(b"* OK never seen\r\n")], tls=True, cert=cert)
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(server.host, server.port, ssl_context=client_ssl_context, timeout=10)
    server.wait_for_connections(1)
    assert server.connections[0].tls_error is not None


def test_expect_mismatch_is_reported(scripted_server: Callable[..., ScriptedServer]) -> None:
    server = scripted_server([Send(b"+OK\r\n"), Expect(rb"^CAPA")])
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        raw.recv(100)
        raw.sendall(b"STAT\r\n")
    server.wait_for_connections(1)
    assert server.errors == ["connection 0: step Expect(b'^CAPA') got b'STAT\\r\\n'"]
