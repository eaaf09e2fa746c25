"""Shared pieces of the pipeline tests: a local HTTP endpoint for webhooks, configs, store queries.

:class:`HookServer` is a real ``http.server`` on 127.0.0.1 in a thread. It records every request
(method, path, headers, body) and can be switched to answer 503 (``fail_with``), or be stopped and
started again on the same port (connections refused meanwhile) to play a webhook that is down.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailconduit import Config, PluginSet, load_config, load_plugins
from mailconduit._pipeline import pipeline_named, run_pipeline
from mailconduit._store import Store
from mailconduit._store._models import EmailLog, MessageRow
from mailconduit._types import RunResult

_PLUGINS: PluginSet | None = None


def plugins() -> PluginSet:
    """The installed plugins, loaded once per process."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = load_plugins()
    return _PLUGINS


@dataclass(frozen=True)
class Hit:
    """One request the hook server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class HookServer:
    """A local HTTP(S) endpoint that records POSTs; see the module docstring.

    Args:
        context: a server-side SSL context for HTTPS (None: plain HTTP).
    """

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.hits: list[Hit] = []
        self.refused_answers = 0
        self._status: int | None = None  # None: 200
        self._retry_after: str | None = None
        self._context = context
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with owner._lock:
                    status, retry_after = owner._status, owner._retry_after
                    if status is None:
                        owner.hits.append(Hit("POST", self.path, dict(self.headers.items()), body))
                    else:
                        owner.refused_answers += 1
                code = status or 200
                self.send_response(code)
                if retry_after is not None and status is not None:
                    self.send_header("Retry-After", retry_after)
                payload = b'{"ok": true}' if status is None else b'{"ok": false}'
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def start(self) -> HookServer:
        """Listen (on the same port as before, after a ``stop``)."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        if self._context is not None:
            server.socket = self._context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until ``start``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def fail_with(self, status: int | None, retry_after: str | None = None) -> None:
        """Answer every POST with ``status`` (None: 200 and record it)."""
        with self._lock:
            self._status, self._retry_after = status, retry_after

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        scheme = "https" if self._context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hooks/mail"

    def __enter__(self) -> HookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def config_from(text: str, password: str) -> Config:
    """Load the YAML ``text`` with ``$PW`` set to ``password``."""
    return load_config(text, plugins(), environ={"PW": password})


def run(config: Config, store: Store, name: str = "p") -> RunResult:
    """One run of pipeline ``name``."""
    return run_pipeline(pipeline_named(config, name), store=store, plugins=plugins(), config=config)


def log_lines(store: Store) -> list[tuple[str, int | None, str]]:
    """The email log: ``(level, message id, text)``, oldest first."""
    with store.session(readonly=True) as session:
        rows = session.execute(
            select(EmailLog.level, EmailLog.message_id, EmailLog.text).order_by(EmailLog.id)
        )
        return [(str(r.level.value), r.message_id, r.text) for r in rows]


def messages(store: Store) -> list[MessageRow]:
    """Every message row, in id order (detached)."""
    with store.session(readonly=True) as session:
        rows = list(session.scalars(select(MessageRow).order_by(MessageRow.id)))
        for row in rows:
            session.expunge(row)
        return rows


def write_template(folder: Path, name: str, **fields: str) -> None:
    """Write ``folder/name.yaml`` with the given template fields."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(json.dumps(fields))


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in consecutive lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
