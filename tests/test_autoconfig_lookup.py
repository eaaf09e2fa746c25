"""autoconfig's network side against servers on 127.0.0.1: an HTTPS server (trustme) and a DNS server.

The DNS server is a few lines of dnspython over UDP in a thread, answering from a dict; the HTTPS
server is the stdlib's, wrapped with a certificate from the session's test CA. Nothing leaves the
machine: every lookup names the local DNS server, so even the domain's own autoconfig host names
resolve there (to 127.0.0.1, where port 443 is closed, or not at all).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rrset
import pytest
import trustme
import yaml
from click.testing import CliRunner

from mailconduit._autoconfig import AuthKind, Source, propose
from mailconduit._autoconfig._lookup import LookupOptions, look_up, parse_dns_server
from mailconduit.testing import canary
from tests.test_autoconfig import XML

Zone = dict[tuple[str, str], list[str]]


class DnsServer:
    """Answers A, SRV and MX questions from ``zone`` ((name, type) -> rdata texts); NXDOMAIN otherwise."""

    def __init__(self, zone: Zone, *, silent: bool = False) -> None:
        self.zone = zone
        self.silent = silent
        self.questions: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
            self.questions.append((name, rdtype))
            if self.silent:
                continue
            response = dns.message.make_response(query)
            texts = self.zone.get((name, rdtype))
            if texts:
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", rdtype, *texts))
            elif not any(n == name for n, _t in self.zone):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


class HttpsServer:
    """Serves ``routes`` (path -> (status, headers, body)) over HTTPS with a test-CA certificate."""

    def __init__(self, cert: trustme.LeafCert, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append((self.path, self.headers.get("Host", "")))
                if self.path == "/drip":  # a byte every 0.1 s, 40 at most: slower than any deadline here
                    self.send_response(200)
                    self.send_header("Content-Length", "40")
                    self.end_headers()
                    for _ in range(40):
                        try:
                            self.wfile.write(b"<")
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(0.1)
                    return
                status, headers, body = routes.get(self.path.partition("?")[0], (404, {}, b"not here"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def https(test_ca: trustme.CA) -> Iterator[HttpsServer]:
    cert = test_ca.issue_cert("autoconfig.example.test", "localhost")  # not 127.0.0.1: SNI must name the host
    server = HttpsServer(
        cert,
        {
            "/mail/config-v1.1.xml": (200, {"Content-Type": "text/xml"}, XML),
            "/moved": (302, {"Location": "/mail/config-v1.1.xml"}, b""),
            "/to-http": (302, {"Location": "http://localhost/mail/config-v1.1.xml"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/html": (200, {"Content-Type": "text/html"}, b"<html>parked domain</html>"),
            "/huge": (200, {}, b"<clientConfig>" + b" " * 300_000 + b"</clientConfig>"),
        },
    )
    yield server
    server.stop()


@pytest.fixture
def empty_dns() -> Iterator[DnsServer]:
    server = DnsServer({})
    yield server
    server.stop()


def _options(dns_server: DnsServer, **kwargs: Any) -> LookupOptions:
    return LookupOptions(timeout=3.0, dns_server=parse_dns_server(dns_server.address), **kwargs)


# ------------------------------------------------------------------ HTTPS autoconfig


def test_autoconfig_over_https(https: HttpsServer, empty_dns: DnsServer, ca_pem: Path) -> None:
    url = f"https://localhost:{https.port}/mail/config-v1.1.xml"
    findings = look_up(
        "jane@example.org", _options(empty_dns, ca_file=str(ca_pem), extra_urls=(url,), use_domain_urls=False)
    )
    proposal = propose("jane@example.org", findings)
    assert proposal is not None and proposal.source is Source.AUTOCONFIG
    assert url in proposal.source_detail and "Example Mail" in proposal.source_detail
    assert proposal.receive is not None and (proposal.receive.host, proposal.receive.port) == (
        "imap.example.org",
        993,
    )
    assert proposal.send is not None and proposal.send.port == 587
    assert https.requests[0][0] == "/mail/config-v1.1.xml"


def test_redirects_are_followed_over_https_only(
    https: HttpsServer, empty_dns: DnsServer, ca_pem: Path
) -> None:
    base = f"https://localhost:{https.port}"
    urls = (f"{base}/to-http", f"{base}/loop", f"{base}/moved")
    findings = look_up(
        "jane@example.org", _options(empty_dns, ca_file=str(ca_pem), extra_urls=urls, use_domain_urls=False)
    )
    notes = "\n".join(findings.notes)
    assert f"{base}/to-http: refusing a non-HTTPS URL" in notes
    assert f"{base}/loop: more than 3 redirects" in notes
    assert [url for url, _doc in findings.autoconfig] == [f"{base}/moved"]
    assert findings.autoconfig[0][1].receive


def test_failures_are_notes(https: HttpsServer, empty_dns: DnsServer, ca_pem: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    base = f"https://localhost:{https.port}"
    urls = (f"{base}/absent", f"{base}/html", f"https://localhost:{closed_port}/mail/config-v1.1.xml")
    findings = look_up(
        "jane@example.org", _options(empty_dns, ca_file=str(ca_pem), extra_urls=urls, use_domain_urls=False)
    )
    notes = "\n".join(findings.notes)
    assert f"{base}/absent: HTTP 404" in notes
    assert f"{base}/html: not an autoconfig document" in notes
    assert f"localhost:{closed_port}/mail/config-v1.1.xml: cannot connect" in notes
    assert propose("jane@example.org", findings) is None


def test_slow_and_huge_documents_are_cut_off(https: HttpsServer, empty_dns: DnsServer, ca_pem: Path) -> None:
    base = f"https://localhost:{https.port}"
    options = LookupOptions(
        timeout=0.6,
        dns_server=parse_dns_server(empty_dns.address),
        ca_file=str(ca_pem),
        extra_urls=(f"{base}/drip", f"{base}/huge"),
        use_domain_urls=False,
    )
    findings = look_up("jane@example.org", options)
    notes = "\n".join(findings.notes)
    assert f"{base}/drip: not received within 1.2 s" in notes
    assert f"{base}/huge: larger than 256 KiB" in notes
    assert findings.autoconfig == []


def test_an_untrusted_certificate_is_refused(https: HttpsServer, empty_dns: DnsServer) -> None:
    url = f"https://localhost:{https.port}/mail/config-v1.1.xml"
    findings = look_up("jane@example.org", _options(empty_dns, extra_urls=(url,), use_domain_urls=False))
    assert findings.autoconfig == []
    assert any("TLS certificate not trusted" in note for note in findings.notes), findings.notes
    assert https.requests == []  # no request was sent over the unverified connection


# ------------------------------------------------------------------ DNS: SRV and MX


def test_srv_records_give_the_servers() -> None:
    zone: Zone = {
        ("_imaps._tcp.example.test.", "SRV"): ["0 1 993 mail.example.test."],
        ("_imap._tcp.example.test.", "SRV"): ["0 1 143 mail.example.test."],
        ("_pop3s._tcp.example.test.", "SRV"): ["0 0 0 ."],
        ("_submission._tcp.example.test.", "SRV"): ["0 1 587 smtp.example.test."],
        ("example.test.", "MX"): ["10 mx.example.test."],
    }
    server = DnsServer(zone)
    try:
        findings = look_up("jane@example.test", _options(server, use_domain_urls=False))
    finally:
        server.stop()
    proposal = propose("jane@example.test", findings)
    assert proposal is not None and proposal.source is Source.SRV
    assert proposal.receive is not None and proposal.receive.describe() == "imap mail.example.test:993 (tls)"
    assert proposal.send is not None and proposal.send.describe() == "smtp smtp.example.test:587 (starttls)"
    assert [s.describe() for s in proposal.alternatives] == ["imap mail.example.test:143 (starttls)"]
    assert findings.mx_hosts == ["mx.example.test."]
    asked = {q for q in server.questions}
    assert ("_submissions._tcp.example.test.", "SRV") in asked and ("example.test.", "MX") in asked


@pytest.mark.parametrize(
    ("mx", "provider", "auth"),
    [
        (["1 smtp.google.com."], "gmail", AuthKind.APP_PASSWORD),
        (["0 example-test.mail.protection.outlook.com."], "exchange_online", AuthKind.ENTRA_OAUTH),
    ],
)
def test_mx_reveals_the_provider(mx: list[str], provider: str, auth: AuthKind) -> None:
    server = DnsServer({("example.test.", "MX"): mx})
    try:
        findings = look_up("ops@example.test", _options(server, use_domain_urls=False))
    finally:
        server.stop()
    proposal = propose("ops@example.test", findings)
    assert proposal is not None and proposal.source is Source.MX
    assert proposal.provider is not None and proposal.provider.key == provider
    assert proposal.auth is auth


def test_a_dns_server_that_never_answers_gives_notes_not_a_crash() -> None:
    server = DnsServer({}, silent=True)
    try:
        findings = look_up(
            "jane@example.test", LookupOptions(timeout=0.5, dns_server=parse_dns_server(server.address))
        )
    finally:
        server.stop()
    assert propose("jane@example.test", findings) is None
    notes = "\n".join(findings.notes)
    assert "DNS MX example.test: no answer in time" in notes
    assert "DNS SRV _imaps._tcp.example.test: no answer in time" in notes
    assert "autoconfig https://autoconfig.example.test/mail/config-v1.1.xml" in notes


# ------------------------------------------------------------------ the command, end to end


def test_cli_resolves_the_autoconfig_host_through_the_dns_server(
    https: HttpsServer, ca_pem: Path, tmp_path: Path
) -> None:
    from mailconduit._cli import cli

    zone: Zone = {("autoconfig.example.test.", "A"): ["127.0.0.1"]}
    server = DnsServer(zone)
    url = f"https://autoconfig.example.test:{https.port}/mail/config-v1.1.xml"
    try:
        result = CliRunner().invoke(
            cli,
            [
                *("autoconfig", "jane@example.test", "--dns-server", server.address, "--url", url),
                *("--ca-file", str(ca_pem), "--timeout", "3", "--json"),
            ],
        )
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["source"] == "autoconfig" and url in data["source_detail"]
    assert data["receive"] == {
        "protocol": "imap",
        "host": "imap.example.org",
        "port": 993,
        "tls": "tls",
        "username": "jane",
    }
    # the request went to 127.0.0.1 with the name kept for the Host header and SNI (else TLS fails)
    assert https.requests[0][1] == f"autoconfig.example.test:{https.port}"
    # the domain's own URLs were tried too: port 443 on 127.0.0.1 is closed, example.test has no A record
    notes = "\n".join(data["notes"])
    assert "autoconfig https://autoconfig.example.test/mail/config-v1.1.xml" in notes
    assert "example.test/.well-known/autoconfig/mail/config-v1.1.xml: cannot resolve the host" in notes
    assert "# Source: autoconfig https://autoconfig.example.test" in data["yaml"]

    from mailconduit._cli import cli as main_cli

    config = tmp_path / "mailconduit.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'store.db'}\n" + data["yaml"])
    checked = CliRunner().invoke(
        main_cli,
        ["--config", str(config), "config", "check", "--json"],
        env={data["password_variable"]: canary("password")},
    )
    assert checked.exit_code == 0, checked.output
    account = yaml.safe_load(data["yaml"])["accounts"]["jane"]
    assert account["auth"]["username"] == "jane"
