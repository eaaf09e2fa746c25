"""A pytest plugin for the K1 canary sweep: no canary secret may appear in logs, output or temp files.

Enable it with ``-p mailconduit._testing.leak_sweep`` or in a conftest's ``pytest_plugins``. For the
whole session it records every log record at DEBUG (with tracebacks), every test's captured
stdout/stderr/log and failure report; at the end it scans those and the session's temp directory
for every canary from :func:`mailconduit.testing.canary`, in raw, base64, URL-encoded and hex form.
A hit fails the run and names where it was found (never the whole secret).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mailconduit._testing.canaries import CanaryScanner, known_canaries, scan_tree

__all__ = ["LEAK_SWEEP_INPUT_SUFFIXES"]

# Files tests write as *inputs* (config files a user would also keep secrets in) are not scanned.
LEAK_SWEEP_INPUT_SUFFIXES = (".yaml", ".yml")

_state: dict[str, Any] = {}


class _FileHandler(logging.FileHandler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        except Exception:  # a record that cannot be formatted still must not break the run
            self.handleError(record)


def pytest_configure(config: pytest.Config) -> None:
    """Attach a DEBUG handler to the root logger for the whole session."""
    log_file = Path(tempfile.mkstemp(prefix="mailconduit-k1-", suffix=".log")[1])
    handler = _FileHandler(log_file, encoding="utf-8", errors="backslashreplace")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    # aiosmtpd's own trace (``mail.log``) is the test server's log, not mailconduit's; it is also huge
    handler.addFilter(lambda record: not record.name.startswith("mail.log"))
    root = logging.getLogger()
    root.addHandler(handler)
    _state.update(handler=handler, log_file=log_file, reports=[], old_level=root.level)
    root.setLevel(logging.DEBUG)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep each test's captured output and failure text for the sweep."""
    texts = [content for _name, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longreprtext))
    if texts:
        _state.setdefault("reports", []).append((report.nodeid, "\n".join(texts).encode("utf-8", "replace")))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scan everything collected; any canary found fails the session."""
    handler: logging.Handler | None = _state.get("handler")
    if handler is None:
        return
    root = logging.getLogger()
    root.removeHandler(handler)
    root.setLevel(_state.get("old_level", logging.WARNING))
    handler.close()
    canaries = known_canaries()
    scanner = CanaryScanner(canaries)
    hits: list[str] = []
    log_file: Path = _state["log_file"]
    hits.extend(f"log record: {hit}" for hit in scanner.find(log_file.read_bytes()))
    for nodeid, blob in _state.get("reports", []):
        hits.extend(f"{nodeid} output: {hit}" for hit in scanner.find(blob))
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            base = factory.getbasetemp()
        except (OSError, ValueError):
            base = None
        if base is not None and base.exists():
            hits.extend(scan_tree(base, canaries, LEAK_SWEEP_INPUT_SUFFIXES))
    log_file.unlink(missing_ok=True)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = f"K1 canary sweep: {len(canaries)} canaries, {len(hits)} leaks"
    if reporter is not None:
        reporter.write_line(summary)
        for hit in hits:
            reporter.write_line(f"  LEAK {hit}", red=True)
    if hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
