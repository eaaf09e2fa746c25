"""Built-in action ``webhook``: POST each message's summary (JSON) or raw bytes to a URL, with retries.

::

    - webhook:
        url: https://helpdesk.example.com/hooks/mail
        send: summary            # or raw (message/rfc822)
        timeout: 10s
        retries: 3               # after the first attempt
        backoff: {initial: 1s, max: 30s}
        headers: {Authorization: "${env:HOOK_TOKEN}"}
        ca_file: null            # extra trust anchors; TLS is always verified

Connection errors, timeouts, 5xx and 429 are retried inside the step with exponential backoff
(``Retry-After`` honoured up to ``backoff.max``); any other 4xx rejects at once. When the retries
are spent the step rejects the message with the reason: it stays on the server, is retried next
run, and the steps before this one are not run again for it. After a message has spent its retries
the endpoint counts as down for ``backoff.max`` (a circuit breaker): messages in that time are
rejected at once with the same reason instead of each waiting through the whole backoff; the first
message after it tries again.

Header values are secrets (``Secret``): they never appear in logs, reasons or reprs. Neither does
the URL's query string or user info: reasons name only scheme, host and path.
"""

from __future__ import annotations

import contextlib
import enum
import json
import random
import threading
import time
import urllib.parse
from datetime import timedelta
from typing import Any

import httpx
from attrs import define, field, validators

from mailconduit._builtins._mailinfo import summary
from mailconduit._model import Backoff
from mailconduit._protocols import ActionContext
from mailconduit._retry import backoff_delay
from mailconduit._secret import Secret
from mailconduit._tls import client_tls_context
from mailconduit._types import ActionResult, StoredMessage

__all__ = ["WebhookAction", "WebhookSend", "WebhookSettings"]

USER_AGENT = "mailconduit-webhook"


class WebhookSend(enum.StrEnum):
    """What the webhook posts."""

    SUMMARY = "summary"
    RAW = "raw"


def _http_url(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {public_url(value)!r}")


def _positive(_instance: Any, attribute: Any, value: timedelta) -> None:
    if value.total_seconds() <= 0:
        raise ValueError(f"{attribute.name} must be positive")


def _header_names(_instance: Any, _attribute: Any, value: dict[str, Secret]) -> None:
    for name in value:
        if not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
            raise ValueError(f"header name {name!r} is not a valid HTTP header name")


@define(frozen=True, kw_only=True)
class WebhookSettings:
    """``webhook:`` settings (see the module docstring)."""

    url: str = field(validator=_http_url)
    send: WebhookSend = WebhookSend.SUMMARY
    timeout: timedelta = field(default=timedelta(seconds=10), validator=_positive)
    retries: int = field(default=3, validator=[validators.ge(0), validators.le(20)])
    backoff: Backoff = field(factory=lambda: Backoff(initial=timedelta(seconds=1), max=timedelta(seconds=30)))
    headers: dict[str, Secret] = field(factory=dict, validator=_header_names)
    ca_file: str | None = None


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment: what logs and reasons may show."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an invalid URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _Retryable(Exception):
    """A failed attempt worth repeating (connection error, timeout, 5xx, 429)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


class WebhookAction:
    """``webhook``: the action (see the module docstring).

    Args:
        settings: the step's settings.
        sleep: how to wait between attempts (default ``time.sleep``).
        rng: the jitter source of the backoff.
        clock: the monotonic clock of the circuit breaker.
    """

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        sleep: Any = time.sleep,
        rng: random.Random | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._where = public_url(settings.url)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._clock = clock
        self._down: tuple[float, str] | None = None  # the circuit breaker: until when, and why

    def __repr__(self) -> str:
        return f"WebhookAction({self._where!r}, send={self.settings.send.value})"

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                verify = client_tls_context(host=self._where, ca_file=self.settings.ca_file)
                self._client = httpx.Client(
                    timeout=self.settings.timeout.total_seconds(), verify=verify, follow_redirects=False
                )
            return self._client

    def _request(self, message: StoredMessage) -> tuple[bytes, dict[str, str]]:
        headers = {"User-Agent": USER_AGENT, "Idempotency-Key": f"mailconduit-{message.id}-{message.sha256}"}
        if self.settings.send is WebhookSend.RAW:
            body, headers["Content-Type"] = message.raw(), "message/rfc822"
        else:
            body = json.dumps(summary(message), ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        headers.update({name: value.reveal() for name, value in self.settings.headers.items()})
        return body, headers

    def _attempt(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        try:
            response = self._http().post(self.settings.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.settings.timeout.total_seconds():g}s") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"could not connect ({type(exc).__name__}: {_brief(exc)})") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code} {response.reason_phrase}", _retry_after(response))
        return response

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """POST the message; accept on 2xx/3xx, reject on other 4xx or when the retries are spent."""
        down = self._down
        if down is not None and self._clock() < down[0]:
            return ActionResult(
                accepted=False, reason=f"{down[1]} (not tried again yet: the endpoint is down)"
            )
        body, headers = self._request(message)
        attempts = self.settings.retries + 1
        last = ""
        for attempt in range(1, attempts + 1):
            try:
                response = self._attempt(body, headers)
            except _Retryable as exc:
                last = str(exc)
                if attempt < attempts:
                    wait = backoff_delay(attempt, self.settings.backoff, self._rng).total_seconds()
                    if exc.retry_after is not None:
                        wait = min(max(wait, exc.retry_after), self.settings.backoff.max.total_seconds())
                    self._sleep(wait)
                continue
            if response.status_code >= 400:
                return ActionResult(
                    accepted=False,
                    reason=f"webhook {self._where} refused it: HTTP {response.status_code} "
                    f"{response.reason_phrase} (not retried: a 4xx other than 429 is permanent)",
                )
            self._down = None
            return ActionResult(accepted=True, annotations={"webhook_status": str(response.status_code)})
        reason = f"webhook {self._where} failed after {attempts} attempts: {last}"
        self._down = (self._clock() + self.settings.backoff.max.total_seconds(), reason)
        context.log("warning", reason)
        return ActionResult(accepted=False, reason=reason)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __del__(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            with contextlib.suppress(Exception):  # nothing to do about a failed close at collection time
                client.close()


def _brief(exc: Exception) -> str:
    """The exception's text, first line, without anything URL-like beyond host and path."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]
