"""``auth login``'s one-shot redirect listener on 127.0.0.1: open the browser, take one callback, finish.

Entra allows loopback redirect URIs on any port for native apps (register ``http://localhost`` /
``http://127.0.0.1`` under "Mobile and desktop applications"). The listener answers only
requests that carry the expected ``state`` (``form_post`` or query), then stops.
"""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from mailconduit import Account, AuthenticationError
from mailconduit_entra_oauth._signin import SignedIn, begin_sign_in, complete_sign_in

if TYPE_CHECKING:
    from mailconduit import AuthContext

__all__ = ["browser_sign_in"]

_DONE = b"<!doctype html><title>mailconduit</title><p>Signed in. You can close this window.</p>"
_FAILED = b"<!doctype html><title>mailconduit</title><p>Sign-in failed; see the terminal.</p>"


def browser_sign_in(
    account: Account,
    *,
    context: AuthContext,
    open_browser: Callable[[str], object] = webbrowser.open,
    timeout: float = 300.0,
) -> SignedIn:
    """Sign ``account`` in through the browser and a one-shot listener on 127.0.0.1.

    Raises:
        AuthenticationError: no callback within ``timeout`` seconds, or the sign-in failed.
    """
    received: dict[str, str] = {}
    arrived = threading.Event()
    outcome: dict[str, Any] = {}

    class Callback(BaseHTTPRequestHandler):
        def _handle(self, params: dict[str, str]) -> None:
            if params.get("state") != outcome.get("state") or arrived.is_set():
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            received.update(params)
            try:
                outcome["result"] = complete_sign_in(account, received, context=context)
                body = _DONE
            except Exception as exc:  # reported in the terminal, not in the browser
                outcome["error"] = exc
                body = _FAILED
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            arrived.set()

        def do_GET(self) -> None:
            self._handle({k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            self._handle({k: v[0] for k, v in parse_qs(raw).items()})

        def log_message(self, format: str, *args: Any) -> None:
            """Nothing: the callback carries an authorization code."""

    server = HTTPServer(("127.0.0.1", 0), Callback)
    server.timeout = 1.0
    try:
        redirect = f"http://127.0.0.1:{server.server_address[1]}/"
        url, state = begin_sign_in(account, context=context, redirect_uri=redirect)
        outcome["state"] = state
        waiter = threading.Thread(target=_serve, args=(server, arrived, timeout), daemon=True)
        waiter.start()
        open_browser(url)
        waiter.join()
    finally:
        server.server_close()
    if "error" in outcome:
        raise outcome["error"]
    if "result" not in outcome:
        raise AuthenticationError(f"account {account.name!r}: no sign-in arrived within {timeout:.0f} s")
    result: SignedIn = outcome["result"]
    return result


def _serve(server: HTTPServer, arrived: threading.Event, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not arrived.is_set() and time.monotonic() < deadline:
        server.handle_request()
