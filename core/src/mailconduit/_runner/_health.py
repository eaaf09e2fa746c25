"""The health endpoint: ``/health`` (the status report as JSON) and ``/metrics`` (Prometheus text).

Served on 127.0.0.1 only, from a thread of the runner, with the standard library's HTTP server:
every request reads the status from the store, so what it says is what ``mailconduit status``
says. ``/health`` answers 200 when every pipeline is healthy and 503 otherwise, so a load balancer
or an orchestrator's probe can act on it.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from mailconduit._runner._metrics import render_metrics
from mailconduit._runner._status import read_status
from mailconduit._store import Store

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["HealthServer"]

log = logging.getLogger("mailconduit.runner")


class HealthServer:
    """Serves ``/health`` and ``/metrics`` on ``127.0.0.1:port`` (0 picks a free port).

    Args:
        store: the store the status is read from.
        config: the configuration (which pipelines and accounts to report).
        port: the TCP port.
    """

    def __init__(self, store: Store, config: Config, *, port: int) -> None:
        self.store, self.config = store, config
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("health endpoint: " + format, *args)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        """Start serving (in a thread)."""
        self.thread.start()
        log.info("health endpoint on http://127.0.0.1:%d/health and /metrics", self.port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one GET."""
        path = request.path.split("?", 1)[0]
        try:
            report = read_status(self.store, self.config)
        except Exception as exc:
            body, status, kind = f"status unavailable: {type(exc).__name__}\n".encode(), 503, "text/plain"
        else:
            if path in ("/health", "/health/"):
                body = json.dumps(report.as_json(), indent=2).encode()
                status, kind = (200 if report.healthy else 503), "application/json"
            elif path == "/metrics":
                body = render_metrics(report).encode()
                status, kind = 200, "text/plain; version=0.0.4; charset=utf-8"
            else:
                body, status, kind = b"not found: try /health or /metrics\n", 404, "text/plain"
        request.send_response(status)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
