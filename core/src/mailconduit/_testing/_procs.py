"""Process plumbing for the real-server fixtures: free ports, the server user, temp dirs, spawn and stop.

Rules from the verified recipes (shared/recipes/README.md, section 2):

* ports: bind ``("127.0.0.1", 0)``, read the port, close it, hand it to the server;
* the ``Popen`` PID is the server itself (foreground mode), its output goes to a log file, never an
  unread pipe; it is stopped with a signal to that PID, killed only after a timeout;
* readiness is a protocol exchange polled with :func:`wait_until`, never a fixed sleep;
* when the tests run as root the servers run as :data:`SERVER_USER` (``mailconduit-test``), started
  with ``Popen(user=, group=, extra_groups=[])`` so the PID stays the server's; their directories
  come from :func:`server_dir` (``tempfile.mkdtemp`` + mode 0755), not pytest's 0700 ``tmp_path``.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailconduit._errors import MailconduitError

__all__ = [
    "SERVER_USER",
    "HarnessError",
    "ServerAccount",
    "chown_tree",
    "free_port",
    "render_template",
    "server_account",
    "server_dir",
    "spawn",
    "stop_process",
    "wait_until",
]

SERVER_USER = os.environ.get("MAILCONDUIT_TEST_SERVER_USER", "mailconduit-test")
"""The unprivileged user test servers run as when the tests run as root."""

USERADD_HINT = f"useradd --system --no-create-home --shell /usr/sbin/nologin {SERVER_USER}"


class HarnessError(MailconduitError, RuntimeError):
    """A test server could not be set up, started or reached (the message holds its log tail)."""


@dataclass(frozen=True)
class ServerAccount:
    """Who a test server runs as.

    Attributes:
        name: user name.
        group: primary group name.
        uid: numeric user id (owner of server files).
        gid: numeric group id.
        popen: keyword arguments for ``subprocess.Popen`` that drop to this user (empty when the
            tests do not run as root).
    """

    name: str
    group: str
    uid: int
    gid: int
    popen: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_current_user(self) -> bool:
        """True when the server runs as the user running the tests."""
        return self.uid == os.geteuid()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the OS picked it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_account() -> ServerAccount:
    """Return the account servers run as: the current user, or :data:`SERVER_USER` under root.

    Raises:
        LookupError: the tests run as root and :data:`SERVER_USER` does not exist.
    """
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        return ServerAccount(pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name, pw.pw_uid, pw.pw_gid)
    try:
        pw = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise LookupError(
            f"the tests run as root but the server user {SERVER_USER!r} does not exist; "
            f"create it with: {USERADD_HINT} (./run test does this)"
        ) from None
    popen = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    return ServerAccount(pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name, pw.pw_uid, pw.pw_gid, popen)


def server_dir(prefix: str) -> Path:
    """Create a world-enterable temp dir (mode 0755) for a server running as another user."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    directory.chmod(0o755)
    return directory


def chown_tree(root: Path, account: ServerAccount) -> None:
    """Give ``root`` and everything below it to ``account`` (a no-op for the current user)."""
    if account.is_current_user:
        return
    for path in [root, *root.rglob("*")]:
        os.chown(path, account.uid, account.gid, follow_symlinks=False)


def remove_tree(root: Path) -> None:
    """Remove a server dir, ignoring files that are already gone."""
    shutil.rmtree(root, ignore_errors=True)


_PLACEHOLDER = re.compile(r"@[A-Z][A-Z0-9_]*@")


def render_template(template: Path, dest: Path, values: Mapping[str, object]) -> Path:
    """Fill ``@NAME@`` placeholders of ``template`` into ``dest`` (twice, so values may use them too).

    Raises:
        HarnessError: a placeholder outside a comment was left unfilled.
    """
    text = template.read_text(encoding="utf-8")
    for _ in range(2):
        for key, value in values.items():
            text = text.replace(f"@{key}@", str(value))
    left = [
        line for line in text.splitlines() if _PLACEHOLDER.search(line) and not line.lstrip().startswith("#")
    ]
    if left:
        raise HarnessError(f"unfilled placeholders in {template.name}: {left}; pass them to render_template")
    dest.write_text(text, encoding="utf-8")
    return dest


def spawn(command: Sequence[object], account: ServerAccount, log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in the foreground as ``account`` with stdout and stderr appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(part) for part in command],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            **account.popen,
        )


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
    """Send ``sig`` to ``proc``, wait up to ``timeout`` seconds, then kill it; return its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def log_tail(log: Path | None, lines: int = 40) -> str:
    """The last ``lines`` lines of a server log, or "" when there is none."""
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def wait_until(
    check: Callable[[], object],
    what: str,
    *,
    timeout: float = 15.0,
    interval: float = 0.02,
    log: Path | None = None,
    retry_on: tuple[type[BaseException], ...] = (OSError,),
) -> None:
    """Poll ``check`` until it returns a true value; a deadline guards against hangs.

    Args:
        check: the probe; exceptions of the types in ``retry_on`` count as "not yet".
        what: what is awaited, for the error message.
        timeout: seconds before giving up.
        interval: seconds between probes.
        log: a server log whose tail goes into the error.
        retry_on: exception types that mean "try again".

    Raises:
        HarnessError: the deadline passed; the message has the last error and the log tail.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if check():
                return
        except retry_on as exc:
            last = exc
        if time.monotonic() > deadline:
            tail = log_tail(log)
            raise HarnessError(
                f"{what} not ready after {timeout:g} s (last error: {last!r}); "
                f"see the log below{f' ({log})' if log else ''}\n{tail}"
            )
        time.sleep(interval)
