"""A private Dovecot (IMAP, IMAPS, POP3, POP3S) on 127.0.0.1 for the whole test session.

Fixtures:

* ``dovecot`` (session): a started :class:`DovecotServer`. It is shared by every test, so each
  test makes its own users: ``user = dovecot.add_user()`` returns a :class:`MailUser` with a unique
  name (and a password unless given one). Log in with ``user.name`` or ``user.address``
  (``username_format=%n``).
* ``dovecot_user``: a fresh :class:`MailUser` on the session's Dovecot.

What the instance offers: ``imap_port`` (cleartext, STARTTLS), ``imaps_port``, ``pop3_port``
(cleartext, STLS), ``pop3s_port``; a certificate from the session's ``test_ca`` for ``127.0.0.1``
and ``localhost``; LOGIN/PLAIN allowed on every port; IDLE (a change shows ~0.5 s later: wait with a
deadline loop), MOVE, UIDPLUS, SPECIAL-USE folders Drafts, Sent, Trash (subscribed) and Archive;
``auth_failure_delay = 0`` so a wrong password fails at once. Users are added while it runs
(a file-system dict passdb, read on every login); :meth:`DovecotServer.seed` writes Maildir files directly,
fast enough for 10,000 messages (UIDs follow the list order). Dovecot serves a message with CRLF
line ends; seeded bytes should use CRLF, and are stored with LF as Dovecot itself does.

For a differently configured instance (XOAUTH2 passdb, shared namespace) use the class directly::

    with DovecotServer(test_ca, extra_mechs="xoauth2", extra_passdb=..., files={...}) as server:
        ...

Start-up takes ~0.1 s, shutdown ~1 s: prefer the session fixture.
"""

from __future__ import annotations

import imaplib
import json
import os
import poplib
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    remove_tree,
    render_template,
    server_account,
    server_dir,
    spawn,
    stop_process,
    wait_until,
)
from mailconduit._testing.ca import issue_server_cert
from mailconduit._testing.canaries import canary
from mailconduit._testing.require import missing_server

if TYPE_CHECKING:
    import subprocess

    import trustme

__all__ = ["DOVECOT_BINARY", "DovecotServer", "MailUser", "dovecot", "dovecot_user"]

DOVECOT_BINARY = Path(os.environ.get("MAILCONDUIT_DOVECOT", "/usr/sbin/dovecot"))
TEMPLATE = Path(__file__).with_name("dovecot.conf.tmpl")
MAIL_DOMAIN = "example.test"
ALL_RIGHTS = "lrwstipekxa"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_FOLDER = re.compile(r"^[A-Za-z0-9 _-]+(/[A-Za-z0-9 _-]+)*$")
_FLAG_LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S", "\\Deleted": "T"}


@dataclass(frozen=True)
class MailUser:
    """A mailbox user of a harness server.

    Attributes:
        name: the login name (unique in the session).
        password: the password (kept out of repr).
    """

    name: str
    password: str = field(repr=False)

    @property
    def address(self) -> str:
        """``name@example.test``; Dovecot accepts it as the login too."""
        return f"{self.name}@{MAIL_DOMAIN}"


def _check_password(password: str) -> None:
    if not password or any(ch in password for ch in "\r\n\0"):
        raise ValueError("a test password must be non-empty and contain no CR, LF or NUL")


class DovecotServer:
    """One private Dovecot instance; see the module docstring."""

    host = "127.0.0.1"

    def __init__(
        self,
        ca: trustme.CA,
        *,
        extra_mechs: str = "",
        extra_passdb: str = "",
        extra_conf: str = "",
        files: Mapping[str, str] | None = None,
    ) -> None:
        """Prepare an instance; :meth:`start` runs it.

        Args:
            ca: the CA that issues the server certificate (also written to ``DIR/tls/ca.pem``).
            extra_mechs: more ``auth_mechanisms`` (``"xoauth2 oauthbearer"``).
            extra_passdb: a passdb block placed before the users' dict passdb; ``@DIR@`` is filled in.
            extra_conf: more settings; ``@DIR@`` is filled in.
            files: ``{relative name: text}`` written into the instance dir, ``@DIR@`` filled in.
        """
        self._ca = ca
        self._extra = {"EXTRA_MECHS": extra_mechs, "EXTRA_PASSDB": extra_passdb, "EXTRA_CONF": extra_conf}
        self._files = dict(files or {})
        self._lock = threading.Lock()
        self._counter = 0
        self._seeded = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._account: ServerAccount | None = None
        self.dir = Path()
        self.ports: dict[str, int] = {}

    # ------------------------------------------------------------------ life cycle
    def start(self) -> Self:
        """Write the config, start ``dovecot -F`` and wait until a LOGIN works."""
        if not DOVECOT_BINARY.exists():
            raise HarnessError(f"{DOVECOT_BINARY} not found: apt-get install dovecot-imapd dovecot-pop3d")
        self._account = server_account()
        self.dir = server_dir("mc-dovecot-")
        try:
            self._prepare()
            probe = self.add_user(prefix="ready")
            log = self.dir / "log" / "stdout.log"
            self._proc = spawn([DOVECOT_BINARY, "-F", "-c", self.dir / "dovecot.conf"], self._account, log)
            retry_on = (OSError, imaplib.IMAP4.error, poplib.error_proto)
            wait_until(lambda: self._ready(probe), "dovecot", log=self.log, retry_on=retry_on)
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self) -> None:
        assert self._account is not None
        for sub in ("run", "state", "log", "mail"):
            (self.dir / sub).mkdir()
        tls = issue_server_cert(self._ca, self.dir / "tls", "good", name="server")
        self._ca.cert_pem.write_to_path(str(self.dir / "tls" / "ca.pem"))
        for name, text in self._files.items():
            (self.dir / name).parent.mkdir(parents=True, exist_ok=True)
            (self.dir / name).write_text(text.replace("@DIR@", str(self.dir)), encoding="utf-8")
        for kind, key in (("passdb", "%n"), ("master", "%u")):
            (self.dir / "users" / kind).mkdir(parents=True)
            conf = f"uri = fs:posix:prefix={self.dir}/users/\npassword_key = {kind}/{key}\n"
            name = "master-passdb.conf.ext" if kind == "master" else "passdb.conf.ext"
            (self.dir / name).write_text(conf + "default_pass_scheme = PLAIN\n")
        self.ports = {name: free_port() for name in ("imap", "imaps", "pop3", "pop3s")}
        values: dict[str, object] = {
            "DIR": self.dir,
            "USER": self._account.name,
            "GROUP": self._account.group,
            "UID": self._account.uid,
            "GID": self._account.gid,
            "IMAP_PORT": self.ports["imap"],
            "IMAPS_PORT": self.ports["imaps"],
            "POP3_PORT": self.ports["pop3"],
            "POP3S_PORT": self.ports["pop3s"],
            **self._extra,
        }
        render_template(TEMPLATE, self.dir / "dovecot.conf", values)
        assert tls.cert.exists()
        chown_tree(self.dir, self._account)

    def _ready(self, probe: MailUser) -> bool:
        with imaplib.IMAP4(self.host, self.ports["imap"], timeout=2) as client:
            client.login(probe.name, probe.password)
            client.logout()
        pop = poplib.POP3(self.host, self.ports["pop3"], timeout=2)
        pop.quit()
        return True

    def stop(self) -> None:
        """Stop the master (SIGTERM, ~1 s) and remove the instance dir."""
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

    # ------------------------------------------------------------------ facts
    @property
    def imap_port(self) -> int:
        """Cleartext IMAP port (STARTTLS offered)."""
        return self.ports["imap"]

    @property
    def imaps_port(self) -> int:
        """Implicit-TLS IMAP port."""
        return self.ports["imaps"]

    @property
    def pop3_port(self) -> int:
        """Cleartext POP3 port (STLS offered)."""
        return self.ports["pop3"]

    @property
    def pop3s_port(self) -> int:
        """Implicit-TLS POP3 port."""
        return self.ports["pop3s"]

    @property
    def log(self) -> Path:
        """Dovecot's log file."""
        return self.dir / "log" / "dovecot.log"

    def log_text(self) -> str:
        """The log so far (for assertions and failure messages)."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    # ------------------------------------------------------------------ users
    def _unique(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}{self._counter}-{secrets.token_hex(3)}"

    def _write_user(self, kind: str, user: MailUser) -> None:
        # one JSON file per user, read by Dovecot's dict passdb on every lookup; renamed into place
        target = self.dir / "users" / kind / user.name
        tmp = target.with_name(f".{user.name}.tmp")
        tmp.write_text(json.dumps({"password": user.password}), encoding="utf-8")
        tmp.chmod(0o600)
        self._own(tmp)
        tmp.rename(target)

    def add_user(
        self, name: str | None = None, password: str | None = None, *, prefix: str = "user"
    ) -> MailUser:
        """Add a mail user at runtime; a unique name and a random password unless given.

        Args:
            name: login name (letters, digits, ``_`` and ``-``); default ``<prefix><n>-<hex>``.
            password: default a random one; no CR, LF or NUL.
            prefix: start of a generated name.
        """
        user = MailUser(name or self._unique(prefix), password or canary("password"))
        if not _NAME.match(user.name):
            raise ValueError(f"user name {user.name!r}: use letters, digits, '_' and '-' (max 64)")
        _check_password(user.password)
        self._write_user("passdb", user)
        return user

    def add_master_user(self, name: str | None = None, password: str | None = None) -> MailUser:
        """Add a master user: ``target*master`` + master's password opens ``target``'s mailbox.

        The ACL plugin still applies: :meth:`grant` the master rights on the target first.
        """
        user = MailUser(name or self._unique("master"), password or canary("password"))
        if not _NAME.match(user.name):
            raise ValueError(f"user name {user.name!r}: use letters, digits, '_' and '-' (max 64)")
        _check_password(user.password)
        self._write_user("master", user)
        return user

    def grant(self, owner: MailUser, grantee: str, rights: str = ALL_RIGHTS) -> None:
        """Give ``grantee`` (a user name) ``rights`` on every folder of ``owner`` (a dovecot-acl file)."""
        root = self._maildir_root(owner)
        acl = root / "dovecot-acl"
        text = acl.read_text() if acl.exists() else f"owner {ALL_RIGHTS}\n"
        acl.write_text(text + f"user={grantee} {rights}\n")
        self._own(acl)

    # ------------------------------------------------------------------ mail
    def _own(self, path: Path) -> None:
        assert self._account is not None
        if not self._account.is_current_user:
            os.chown(path, self._account.uid, self._account.gid)

    def _maildir_root(self, user: MailUser) -> Path:
        return self._make_maildir(self.dir / "mail" / user.name / "Maildir")

    def _make_maildir(self, path: Path) -> Path:
        created = []
        for sub in (path.parent, path, path / "cur", path / "new", path / "tmp"):
            if not sub.exists():
                sub.mkdir(mode=0o700)
                created.append(sub)
        for sub in created:
            self._own(sub)
        return path

    def maildir(self, user: MailUser, folder: str = "INBOX") -> Path:
        """The Maildir directory of ``folder`` (``/`` separates levels), created if missing."""
        root = self._maildir_root(user)
        if folder.upper() == "INBOX":
            return root
        if not _FOLDER.match(folder):
            raise ValueError(
                f"folder {folder!r}: the harness writes ASCII letters, digits, space, '_' and '-' "
                "with '/' between levels; create other names over IMAP"
            )
        return self._make_maildir(root / ("." + folder.replace("/", ".")))

    def create_folder(self, user: MailUser, folder: str) -> Path:
        """Create ``folder`` for ``user`` (not subscribed); return its Maildir directory."""
        return self.maildir(user, folder)

    def seed(
        self,
        user: MailUser,
        messages: Iterable[bytes],
        folder: str = "INBOX",
        *,
        flags: Sequence[str] = (),
        internaldate: float | None = None,
    ) -> list[Path]:
        r"""Write ``messages`` straight into ``user``'s Maildir folder; return the files in order.

        Dovecot gives them UIDs in list order when a client next looks. Lines are stored with LF
        and served with CRLF, so a CRLF message is fetched back byte for byte.

        Args:
            user: the mailbox owner.
            messages: RFC 5322 messages.
            folder: target folder, created if missing.
            flags: IMAP system flags (``\Seen``, ``\Flagged``, ``\Answered``, ``\Draft``, ``\Deleted``).
            internaldate: the INTERNALDATE (Unix time) of every message; default now.
        """
        try:
            info = "".join(sorted(_FLAG_LETTERS[flag] for flag in flags))
        except KeyError as exc:
            raise ValueError(f"unknown flag {exc.args[0]!r}; use one of {', '.join(_FLAG_LETTERS)}") from None
        target = self.maildir(user, folder)
        assert self._account is not None
        chown = not self._account.is_current_user
        stamp = int(time.time())
        when = internaldate if internaldate is not None else time.time()
        written: list[Path] = []
        for raw in messages:
            body = raw.replace(b"\r\n", b"\n")
            with self._lock:
                self._seeded += 1
                serial = self._seeded
            base = f"{stamp}.M{serial}P{os.getpid()}.mailconduit-seed"
            wire_size = len(body) + body.count(b"\n")
            name = f"{base},S={len(body)},W={wire_size}:2,{info}"
            tmp = target / "tmp" / base
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, body)
                if chown:
                    os.fchown(fd, self._account.uid, self._account.gid)
            finally:
                os.close(fd)
            os.utime(tmp, (when, when))
            final = target / "cur" / name
            tmp.rename(final)
            written.append(final)
        return written

    def message_files(self, user: MailUser, folder: str = "INBOX") -> list[Path]:
        """The message files now in ``folder`` (``new`` and ``cur``), sorted by name."""
        target = self.maildir(user, folder)
        return sorted([*(target / "new").iterdir(), *(target / "cur").iterdir()])

    def message_count(self, user: MailUser, folder: str = "INBOX") -> int:
        """How many messages ``folder`` holds now, as an IMAP client sees them (a read-only SELECT)."""
        client = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=20)
        try:
            client.login(user.name, user.password)
            typ, dat = client.select(folder, readonly=True)
            if typ != "OK":
                raise AssertionError(f"SELECT {folder!r} as {user.name}: {typ} {dat!r}")
            return int(dat[0] or b"0")
        finally:
            client.logout()

    def remove_user_mail(self, user: MailUser) -> None:
        """Delete ``user``'s whole mail tree (the user can still log in and starts empty)."""
        shutil.rmtree(self.dir / "mail" / user.name, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot(test_ca: trustme.CA) -> Iterator[DovecotServer]:
    """The session's Dovecot (IMAP, IMAPS, POP3, POP3S on 127.0.0.1); add users per test."""
    if not DOVECOT_BINARY.exists():
        missing_server("dovecot", "apt-get install dovecot-imapd dovecot-pop3d (./run test does it as root)")
    try:
        server_account()
    except LookupError:
        missing_server("the server user for Dovecot", USERADD_HINT)
    with DovecotServer(test_ca) as server:
        yield server


@pytest.fixture
def dovecot_user(dovecot: DovecotServer) -> MailUser:
    """A new user with an empty mailbox on the session's Dovecot."""
    return dovecot.add_user()
