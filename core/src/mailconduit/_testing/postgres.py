"""Pytest fixtures for a private PostgreSQL cluster: one per test session, a new database per test.

``postgres_server`` (session scope) runs ``initdb`` and ``postgres`` in a temp dir on a free port of
127.0.0.1, as the unprivileged ``mailconduit-test`` user when the tests run as root (initdb refuses
root), and stops it with SIGINT (fast shutdown) at the end. ``postgres_url`` gives each test an
empty database of its own, ``postgresql+psycopg://...``, dropped afterwards.

When PostgreSQL is not installed the tests skip (or fail under CI: ``missing_server``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import define

from mailconduit._testing._procs import (
    SERVER_USER,
    HarnessError,
    ServerAccount,
    chown_tree,
    free_port,
    log_tail,
    remove_tree,
    server_account,
    server_dir,
    spawn,
    stop_process,
    wait_until,
)
from mailconduit._testing.require import missing_server

__all__ = ["postgres_server", "postgres_url"]

INSTALL_HINT = "apt-get install postgresql"
SUPERUSER = "mailconduit"


@define(frozen=True)
class PostgresServer:
    """A running private PostgreSQL cluster.

    Attributes:
        port: its TCP port on 127.0.0.1.
        directory: the temp dir holding the data directory, socket and log.
        user: the superuser to connect as (trust authentication, no password).
    """

    port: int
    directory: Path
    user: str = SUPERUSER

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL to ``database`` on this cluster."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction on the ``postgres`` database (CREATE DATABASE...)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(sql.encode())

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database even while clients are still connected to it."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_bindir() -> Path | None:
    """Where ``initdb`` and ``postgres`` live: ``pg_config --bindir``, else /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            candidates.append(Path(done.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)[::-1]
    if shutil.which("initdb"):
        candidates.append(Path(str(shutil.which("initdb"))).parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    return None


def _account() -> ServerAccount:
    if os.geteuid() == 0:
        try:
            return server_account()
        except LookupError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
                check=True,
                capture_output=True,
            )
    return server_account()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster on 127.0.0.1 for the whole test session."""
    bindir = pg_bindir()
    if bindir is None:
        missing_server("postgresql", INSTALL_HINT)
    account = _account()
    directory = server_dir("mc-pg-")
    proc: subprocess.Popen[bytes] | None = None
    log = directory / "postgres.log"
    try:
        chown_tree(directory, account)
        initdb = subprocess.run(
            [
                str(bindir / "initdb"),
                *("-D", str(directory / "data"), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8"),
                *("--locale=C.UTF-8", "--no-sync"),
            ],
            capture_output=True,
            text=True,
            check=False,
            **account.popen,
        )
        if initdb.returncode != 0:
            raise HarnessError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}\n{initdb.stderr}")
        port = free_port()
        log.touch()
        chown_tree(directory, account)
        proc = spawn(
            [
                bindir / "postgres",
                *("-D", directory / "data", "-p", port, "-k", directory),
                *("-c", "listen_addresses=127.0.0.1"),
            ],
            account,
            log,
        )
        ready = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER]

        def is_ready() -> bool:
            if proc is not None and proc.poll() is not None:
                raise HarnessError(f"postgres exited with {proc.returncode}:\n{log_tail(log)}")
            return subprocess.run(ready, check=False).returncode == 0

        wait_until(is_ready, "postgres", log=log)
        yield PostgresServer(port=port, directory=directory)
    finally:
        if proc is not None:
            stop_process(proc, signal.SIGINT)  # fast shutdown; SIGTERM waits for every client to leave
        remove_tree(directory)


_numbers = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A URL (``postgresql+psycopg://...``) to a new, empty database, dropped after the test."""
    name = f"test_{os.getpid()}_{next(_numbers)}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)
