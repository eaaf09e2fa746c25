"""A private OpenLDAP slapd on 127.0.0.1 for the whole test session (ldap:// with StartTLS, ldaps://).

Fixture:

* ``slapd`` (session): a started :class:`SlapdServer` under ``dc=example,dc=test`` with an
  ``ou=people`` branch. Tests add their own people while it runs:
  ``dn = slapd.add_entry("bob@example.test", [der_bytes])`` stores an inetOrgPerson with ``mail``
  and ``userCertificate;binary`` values (``smime_certificates=`` fills ``userSMIMECertificate``).

What the instance offers: ``url`` (``ldap://127.0.0.1:P``, StartTLS available) and ``ldaps_url``,
both presenting a certificate from the session's ``test_ca`` for ``127.0.0.1`` and ``localhost``;
anonymous read of everything but ``userPassword``; the root DN ``cn=admin,SUFFIX`` with
``root_password``. It runs in the foreground as ``slapd -d stats`` (``loglevel stats``; with
``-d 0`` slapd logs nothing to its output), so :meth:`SlapdServer.logged_filters` returns each
search filter as slapd parsed it (RELIABILITY.md G3). slapd writes the filter with upper-case hex
escapes and stops at a NUL byte in a value (a C string).

ldap3's default ``Tls()`` verifies nothing: clients must pass
``Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_pem)``. Start-up takes ~0.1 s.
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import pytest

from mailconduit._testing._procs import (
    USERADD_HINT,
    HarnessError,
    ServerAccount,
    chown_tree,
    free_port,
    log_tail,
    remove_tree,
    render_template,
    server_account,
    server_dir,
    spawn,
    stop_process,
    wait_until,
)
from mailconduit._testing.ca import CertKind, issue_server_cert
from mailconduit._testing.require import missing_server

if TYPE_CHECKING:
    import ldap3
    import trustme

__all__ = ["SLAPD_BINARY", "SlapdServer", "slapd"]

SLAPD_BINARY = Path("/usr/sbin/slapd")
SLAPADD_BINARY = Path("/usr/sbin/slapadd")
TEMPLATE = Path(__file__).with_name("slapd.conf.tmpl")
SUFFIX = "dc=example,dc=test"
PERSON = ("top", "person", "organizationalPerson", "inetOrgPerson")
_FILTER = re.compile(r' SRCH base="[^"]*" scope=\d deref=\d filter="(?P<filter>.*)"$')


def ldif_entry(dn: str, attributes: Mapping[str, Sequence[str | bytes]]) -> str:
    """One LDIF record; bytes values (and any value that is not plain ASCII) go base64 (``attr::``)."""
    lines = [f"dn: {dn}"]
    for key, values in attributes.items():
        for value in values:
            raw = value if isinstance(value, bytes) else value.encode("utf-8")
            plain = (
                isinstance(value, str) and value.isascii() and value.isprintable() and value[:1] not in " :<"
            )
            text = raw.decode("ascii") if plain else base64.b64encode(raw).decode()
            lines.append(f"{key}: {text}" if plain else f"{key}:: {text}")
    return "\n".join(lines) + "\n\n"


class SlapdServer:
    """One private slapd instance; see the module docstring."""

    host = "127.0.0.1"
    suffix = SUFFIX
    people = f"ou=people,{SUFFIX}"

    def __init__(self, ca: trustme.CA, *, cert_kind: CertKind = "good") -> None:
        """Prepare an instance whose certificate ``ca`` issues; :meth:`start` runs it.

        Args:
            ca: the test CA (its certificate is the server's issuer for the good kinds).
            cert_kind: the server certificate, as :func:`issue_server_cert` makes it (``wrong_host``,
                ``expired``, ``unknown_ca``, ``self_signed`` for TLS failure tests).
        """
        self._ca = ca
        self._cert_kind: CertKind = cert_kind
        self._proc: subprocess.Popen[bytes] | None = None
        self._account: ServerAccount | None = None
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.root_password = secrets.token_hex(12)
        self.dir = Path()
        self.port = 0
        self.tls_port = 0

    @property
    def root_dn(self) -> str:
        """The directory manager's DN (``cn=admin,SUFFIX``)."""
        return f"cn=admin,{self.suffix}"

    @property
    def url(self) -> str:
        """``ldap://127.0.0.1:PORT`` (cleartext, StartTLS offered); no trailing slash (ldap3 refuses it)."""
        return f"ldap://{self.host}:{self.port}"

    @property
    def ldaps_url(self) -> str:
        """``ldaps://127.0.0.1:PORT`` (implicit TLS)."""
        return f"ldaps://{self.host}:{self.tls_port}"

    @property
    def log(self) -> Path:
        """The log of slapd (stats level: connections, binds, searches with their filters)."""
        return self.dir / "slapd.log"

    # ------------------------------------------------------------------ life cycle
    def start(self) -> Self:
        """Write the config, load the base entries with ``slapadd`` and run ``slapd -d stats``."""
        if not SLAPD_BINARY.exists():
            raise HarnessError(f"{SLAPD_BINARY} not found: apt-get install slapd ldap-utils")
        self._account = server_account()
        self.dir = server_dir("mc-slapd-")
        try:
            (self.dir / "db").mkdir()
            issue_server_cert(self._ca, self.dir / "tls", self._cert_kind, name="server")
            self._ca.cert_pem.write_to_path(str(self.dir / "tls" / "ca.pem"))
            values = {"DIR": self.dir, "SUFFIX": self.suffix, "ROOTPW": self.root_password}
            conf = render_template(TEMPLATE, self.dir / "slapd.conf", values)
            base = {"objectClass": ["top", "dcObject", "organization"], "dc": ["example"], "o": ["example"]}
            people = {"objectClass": ["top", "organizationalUnit"], "ou": ["people"]}
            ldif = ldif_entry(self.suffix, base) + ldif_entry(self.people, people)
            (self.dir / "base.ldif").write_text(ldif, encoding="utf-8")
            chown_tree(self.dir, self._account)
            done = subprocess.run(
                [str(SLAPADD_BINARY), "-q", "-f", str(conf), "-l", str(self.dir / "base.ldif")],
                capture_output=True,
                check=False,
                **self._account.popen,
            )
            if done.returncode != 0:
                raise HarnessError(
                    f"slapadd failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
                )
            self.port, self.tls_port = free_port(), free_port()
            command = [SLAPD_BINARY, "-f", conf, "-h", f"{self.url} {self.ldaps_url}", "-d", "stats"]
            self._proc = spawn(command, self._account, self.log)
            wait_until(self._ready, "slapd", log=self.log)
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise HarnessError(f"slapd exited with {self._proc.returncode}\n{log_tail(self.log)}")
        conn = self._connection()
        conn.unbind()
        return True

    def _connection(self) -> ldap3.Connection:
        from ldap3 import Connection, Server

        return Connection(
            Server(self.url, connect_timeout=2),
            user=self.root_dn,
            password=self.root_password,
            auto_bind=True,
            receive_timeout=5,
        )

    def stop(self) -> None:
        """Stop slapd (SIGTERM) and remove the instance dir."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self.dir != Path():
            remove_tree(self.dir)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ data
    def add_entry(
        self,
        mail: str,
        certificates: Sequence[bytes] = (),
        *,
        smime_certificates: Sequence[bytes] = (),
        uid: str | None = None,
    ) -> str:
        """Add a person with ``mail`` and the given DER certificates; return its DN.

        Args:
            mail: the ``mail`` attribute, stored exactly (any characters, decoys included).
            certificates: DER values of ``userCertificate;binary``.
            smime_certificates: DER values of ``userSMIMECertificate`` (PKCS#7 or bare certificates,
                as the directory holds them).
            uid: the RDN value; default a unique ``person-N``.
        """
        name = uid or f"person-{next(self._counter)}"
        dn = f"uid={name},{self.people}"
        attributes: dict[str, object] = {"uid": name, "cn": name, "sn": name, "mail": mail}
        if certificates:
            attributes["userCertificate;binary"] = list(certificates)
        if smime_certificates:
            attributes["userSMIMECertificate"] = list(smime_certificates)
        with self._lock:
            conn = self._connection()
            try:
                if not conn.add(dn, list(PERSON), attributes):  # type: ignore[no-untyped-call]
                    raise HarnessError(f"adding {dn!r} to slapd failed: {conn.result}")
            finally:
                conn.unbind()
        return dn

    def logged_filters(self) -> list[str]:
        """Every search filter slapd logged so far, in order, exactly as it parsed them."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return [m.group("filter") for line in text.splitlines() if (m := _FILTER.search(line))]


@pytest.fixture(scope="session")
def slapd(test_ca: trustme.CA) -> Iterator[SlapdServer]:
    """The session's slapd (ldap:// with StartTLS and ldaps:// on 127.0.0.1); add entries per test."""
    if not SLAPD_BINARY.exists() or shutil.which("slapadd", path=str(SLAPADD_BINARY.parent)) is None:
        missing_server("slapd", "apt-get install slapd ldap-utils (./run test does it as root)")
    try:
        import ldap3  # noqa: F401
    except ImportError:
        missing_server("ldap3 (the slapd fixture seeds entries with it)", "pip install ldap3")
    try:
        server_account()
    except LookupError:
        missing_server("the server user for slapd", USERADD_HINT)
    with SlapdServer(test_ca) as server:
        yield server
