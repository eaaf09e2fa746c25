"""Real-server fixtures and the fault kit for mailconduit and its plugins' tests.

Opt in from a ``conftest.py`` (the repository's own conftest does this for every test)::

    pytest_plugins = ["mailconduit.testing"]

Every server listens on 127.0.0.1 on free ports, with certificates from one session CA made by
trustme; clients must verify for real: ``ssl.create_default_context(cafile=ca_pem)`` (smtplib,
imaplib and poplib verify nothing without an explicit context). When a server is missing the
fixture skips the test, or fails it under ``CI=true`` / ``MAILCONDUIT_REQUIRE_SERVERS=1``. When the
tests run as root the servers run as the user ``mailconduit-test`` (``./run test`` creates it).

Fixtures:

* ``test_ca``, ``ca_pem``, ``client_ssl_context``, ``server_cert``: the CA, its PEM path, a
  verifying client context, a good server certificate (``mailconduit._testing.ca``). For TLS
  failure tests :func:`issue_server_cert` makes ``wrong_host``, ``expired``, ``self_signed`` and
  ``unknown_ca`` certificates.
* ``dovecot`` (session) and ``dovecot_user``: Dovecot with IMAP (STARTTLS), IMAPS, POP3 (STLS) and
  POP3S; ``dovecot.add_user()``, ``dovecot.seed(user, [raw, ...], folder)``,
  ``dovecot.create_folder(user, name)``, ``dovecot.grant(...)``, master users.
* ``smtp_server``: aiosmtpd with plain, STARTTLS and implicit-TLS listeners, AUTH PLAIN/LOGIN,
  recording each message byte-exact and each command/reply line; ``inject()`` scripted failures.
* ``fault_proxy``: factory of :class:`FaultProxy` (cut by RST or FIN, blackhole, drip at byte N).
* ``scripted_server``: factory of :class:`ScriptedServer`, a scriptable hostile
  IMAP/POP3/SMTP peer that records every line it received.
* ``fake_entra`` (session): :class:`FakeEntra`, a local Entra ID authority over HTTPS for msal;
  ``oauth_dovecot`` (session) and ``oauth_smtp_server``: Dovecot and aiosmtpd checking its bearer
  tokens with Exchange Online's rules (``mailconduit._testing.entra``, ``.entra_servers``).
* PostgreSQL lives in ``mailconduit._testing.postgres``.

Helpers: :func:`free_port`, :func:`wait_until` (deadline polling instead of sleeps).
"""

from __future__ import annotations

from mailconduit._testing._procs import HarnessError, free_port, wait_until
from mailconduit._testing.ca import (
    CERT_KINDS,
    CertFiles,
    ca_pem,
    client_ssl_context,
    issue_server_cert,
    server_cert,
    test_ca,
)
from mailconduit._testing.dovecot import DovecotServer, MailUser, dovecot, dovecot_user
from mailconduit._testing.entra import EntraClient, EntraUser, FakeEntra, fake_entra, http_client
from mailconduit._testing.entra_servers import (
    OAuthSmtpRecorder,
    oauth_dovecot,
    oauth_dovecot_for,
    oauth_smtp_server,
)
from mailconduit._testing.fake_server import (
    HUGE_LITERAL,
    Close,
    Expect,
    ExpectBytes,
    Pause,
    Repeat,
    ScriptedConnection,
    ScriptedServer,
    Send,
    StartTls,
    long_line,
    scripted_server,
)
from mailconduit._testing.faults import Fault, FaultProxy, ProxyConnection, fault_proxy
from mailconduit._testing.slapd import SlapdServer, slapd
from mailconduit._testing.smtp import (
    ReceivedMail,
    SmtpFault,
    SmtpRecorder,
    SmtpServer,
    SmtpSession,
    smtp_server,
)

__all__ = [
    "CERT_KINDS",
    "HUGE_LITERAL",
    "CertFiles",
    "Close",
    "DovecotServer",
    "EntraClient",
    "EntraUser",
    "Expect",
    "ExpectBytes",
    "FakeEntra",
    "Fault",
    "FaultProxy",
    "HarnessError",
    "MailUser",
    "OAuthSmtpRecorder",
    "Pause",
    "ProxyConnection",
    "ReceivedMail",
    "Repeat",
    "ScriptedConnection",
    "ScriptedServer",
    "Send",
    "SlapdServer",
    "SmtpFault",
    "SmtpRecorder",
    "SmtpServer",
    "SmtpSession",
    "StartTls",
    "ca_pem",
    "client_ssl_context",
    "dovecot",
    "dovecot_user",
    "fake_entra",
    "fault_proxy",
    "free_port",
    "http_client",
    "issue_server_cert",
    "long_line",
    "oauth_dovecot",
    "oauth_dovecot_for",
    "oauth_smtp_server",
    "scripted_server",
    "server_cert",
    "slapd",
    "smtp_server",
    "test_ca",
    "wait_until",
]
