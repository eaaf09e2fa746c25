"""The full parse on demand, within a budget: pre-scan limits first, then a worker process with rlimits.

``parse_message`` never raises on malformed input: whatever goes wrong becomes a defect, and a
message past a limit comes back with ``limit_exceeded`` and the fields of the cheap header scan.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import threading
from datetime import datetime
from typing import Any

from attrs import define, field

from mailconduit._message import Address, Attachment
from mailconduit._mime._prescan import ParseLimits, prescan
from mailconduit._mime._scan import scan_headers
from mailconduit._mime._worker import read_frame, write_frame

__all__ = ["ParseWorker", "ParsedMessage", "parse_message"]

_MSGID = re.compile(r"<[^<>\s]{1,900}>")
_WORKER_COMMAND = "from mailconduit._mime._worker import main; main()"


@define(frozen=True, kw_only=True)
class ParsedMessage:
    r"""A message parsed from its raw bytes; the raw bytes stay the source of truth.

    Attributes:
        headers: the top-level header fields in order, values unfolded and RFC 2047-decoded.
        subject, message_id, date: the usual fields (None when absent or unreadable).
        from_, to, cc, reply_to: addresses that parse exactly; others are left out with a defect.
        text, html: the first text/plain and text/html bodies (newlines normalised to ``\\n``).
        attachments: every other leaf part; inline parts carry their Content-ID.
        defects: what was malformed or stopped; ``limit_exceeded: ...`` entries mean the parse was cut.
        work_units: the pre-scan's work count (bytes looked at plus items visited).
        cpu_seconds: CPU the worker spent on this message (0 when parsed in-process or not parsed).
        max_rss_kib: the worker's peak resident size so far, in KiB (0 when not measured).
    """

    headers: list[tuple[str, str]] = field(factory=list)
    subject: str | None = None
    message_id: str | None = None
    date: datetime | None = None
    from_: list[Address] = field(factory=list)
    to: list[Address] = field(factory=list)
    cc: list[Address] = field(factory=list)
    reply_to: list[Address] = field(factory=list)
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(factory=list)
    defects: list[str] = field(factory=list)
    work_units: int = 0
    cpu_seconds: float = 0.0
    max_rss_kib: int = 0

    @property
    def limit_exceeded(self) -> bool:
        """True when a limit stopped the parse (bodies and attachments may be missing)."""
        return any(d.startswith("limit_exceeded") for d in self.defects)

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), decoded, or None."""
        lower = name.lower()
        return next((value for key, value in self.headers if key.lower() == lower), None)


class ParseWorker:
    """One long-lived worker process that parses messages under CPU and memory rlimits.

    It is restarted after it dies (CPU limit reached) or after a MemoryError. Calls are serialised
    by a lock; a process that forks gets its own worker.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pid = os.getpid()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None or self._pid != os.getpid():
            self._pid = os.getpid()
            self._process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_COMMAND],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._process

    def run(self, raw: bytes, limits: ParseLimits) -> dict[str, Any]:
        """Parse ``raw`` in the worker; a dead or silent worker becomes a ``limit_exceeded`` defect."""
        cpu = limits.cpu_budget(len(raw))
        with self._lock:
            for attempt in (1, 2):
                process = self._start()
                assert process.stdin is not None and process.stdout is not None
                try:
                    write_frame(process.stdin, (cpu, limits.memory_budget(len(raw)), raw))
                except OSError:  # the previous worker died after its last reply: start a fresh one
                    self._stop(process)
                    if attempt == 1:
                        continue
                    return {"defects": ["parse worker cannot be started"]}
                # a watchdog for a worker that hangs without using CPU; the CPU rlimit is the real bound
                ready, _, _ = select.select([process.stdout], [], [], 30 + 10 * cpu)
                reply = read_frame(process.stdout) if ready else None
                if isinstance(reply, dict):
                    if reply.get("fatal"):
                        self._stop(process)
                    return reply
                code = self._stop(process)
                if code == -signal.SIGXCPU:
                    why = f"CPU budget of the parse worker ({cpu:.1f} s CPU allowed)"
                elif not ready:
                    why = "time guard of the parse worker (no answer)"
                else:
                    why = f"parse worker ended with code {code}"
                return {"defects": [f"limit_exceeded: {why}"], "cpu_seconds": cpu}
        raise AssertionError("unreachable")

    def _stop(self, process: subprocess.Popen[bytes]) -> int:
        if process.poll() is None:
            process.kill()
        code = process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._process = None
        return code

    def close(self) -> None:
        """Stop the worker process (it is started again on the next call)."""
        with self._lock:
            if self._process is not None:
                if self._process.stdin is not None:
                    self._process.stdin.close()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                if self._process.stdout is not None:
                    self._process.stdout.close()
                self._process = None


_default_worker = ParseWorker()


def _from_result(result: dict[str, Any], base: dict[str, Any]) -> ParsedMessage:
    from mailconduit._mime._scan import parse_date

    defects: list[str] = [*base["defects"], *result.get("defects", [])]
    headers = [(str(k), str(v)) for k, v in result.get("headers", [])]
    addresses = result.get("addresses", {})

    def first(name: str) -> str | None:
        return next((v for k, v in headers if k.lower() == name), None)

    def people(name: str) -> list[Address]:
        return [Address(addr_spec=a, display_name=d) for a, d in addresses.get(name, [])]

    attachments = []
    for filename, ctype, cid, inline, content in result.get("attachments", []):
        try:
            attachments.append(
                Attachment(
                    filename=filename, content=content, content_type=ctype, inline=inline, content_id=cid
                )
            )
        except ValueError:
            defects.append(f"attachment {filename[:60]!r} has an unusable content type {ctype[:60]!r}")
    mid = first("message-id")
    if headers:
        subject = first("subject")
        date = parse_date(first("date"), defects)
        found = _MSGID.search(mid) if mid else None
        message_id = found.group() if found else None
    else:
        subject, date, message_id = base["subject"], base["date"], base["message_id"]
    return ParsedMessage(
        headers=headers,
        subject=subject,
        message_id=message_id,
        date=date,
        from_=people("from"),
        to=people("to"),
        cc=people("cc"),
        reply_to=people("reply-to"),
        text=result.get("text"),
        html=result.get("html"),
        attachments=attachments,
        defects=defects,
        work_units=base["work_units"],
        cpu_seconds=float(result.get("cpu_seconds", 0.0)),
        max_rss_kib=int(result.get("max_rss_kib", 0)),
    )


def parse_message(
    raw: bytes, *, limits: ParseLimits | None = None, isolate: bool = True, worker: ParseWorker | None = None
) -> ParsedMessage:
    """Parse ``raw`` fully within a budget; never raises on malformed input.

    A linear pre-scan checks nesting depth, part count, header fields, encoded-words and header
    line length first; past a limit the message is not parsed and comes back with a
    ``limit_exceeded`` defect and the fields of the cheap header scan. Otherwise it is parsed in a
    worker process with RLIMIT_CPU and RLIMIT_AS set from ``limits`` (or in this process when
    ``isolate`` is False, for trusted input such as our own composed messages).

    Args:
        raw: the message as received; it is not modified.
        limits: the bounds (``ParseLimits()`` by default).
        isolate: parse in the worker process (default) rather than in this process.
        worker: the worker to use (a shared one by default).
    """
    limits = limits or ParseLimits()
    scan = scan_headers(raw)
    measured = prescan(raw, limits)
    base = {
        "defects": list(scan.defects),
        "subject": scan.subject,
        "date": scan.date,
        "message_id": scan.message_id,
        "work_units": measured.work_units,
    }
    if measured.exceeded:
        return _from_result({"defects": measured.exceeded}, base)
    # the full parse runs: the cheap scan's own caps do not apply to it
    base["defects"] = [d for d in scan.defects if not d.startswith("limit_exceeded")]
    if isolate:
        return _from_result((worker or _default_worker).run(raw, limits), base)
    from mailconduit._mime._extract import extract

    try:
        result = extract(raw)
    except RecursionError:
        result = {"defects": ["limit_exceeded: nesting too deep for the parser"]}
    except Exception as exc:
        result = {"defects": [f"parse failed: {type(exc).__name__}"]}
    return _from_result(result, base)
