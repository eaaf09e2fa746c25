"""`mailconduit log`: the email log, filtered by account and level, as text or JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailconduit._cli import cli
from mailconduit._errors import StoreError
from mailconduit._store import open_store
from mailconduit._store._repo_log import add_log


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'mail.db'}"
    store = open_store(url)
    start = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    with store.session() as session:
        add_log(session, "info", "sent to bob", account="sales", time=start)
        add_log(
            session, "warning", "retrying: 451 try later", account="sales", time=start + timedelta(seconds=1)
        )
        add_log(session, "error", "login refused", account="support", time=start + timedelta(seconds=2))
        add_log(session, "debug", "noise", account="support", time=start + timedelta(seconds=3))
    store.close()
    return url


def _json(url: str, *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["--db", url, "log", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_log_json_newest_first(url: str) -> None:
    entries = _json(url)
    assert [e["text"] for e in entries] == [
        "noise",
        "login refused",
        "retrying: 451 try later",
        "sent to bob",
    ]
    assert entries[-1]["time"] == "2025-05-01T12:00:00+00:00"
    assert set(entries[0]) == {"id", "time", "level", "account", "message_id", "text"}


def test_log_filters(url: str) -> None:
    assert [e["text"] for e in _json(url, "--account", "sales")] == ["retrying: 451 try later", "sent to bob"]
    assert [e["level"] for e in _json(url, "--level", "WARNING")] == ["error", "warning"]
    assert [e["text"] for e in _json(url, "--account", "support", "--level", "error")] == ["login refused"]
    assert len(_json(url, "--limit", "1")) == 1
    assert _json(url, "--account", "nobody") == []


def test_log_plain_table_when_piped(url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", url, "log", "--level", "error"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "time\tlevel\taccount\tmessage_id\ttext"
    assert lines[1] == "2025-05-01T12:00:02+00:00\terror\tsupport\t\tlogin refused"


def test_log_rejects_unknown_level(url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", url, "log", "--level", "loud"])
    assert result.exit_code == 2 and "loud" in result.output


def test_log_without_store_says_to_create_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'none.db'}", "log"])
    assert isinstance(result.exception, StoreError)
    assert "run `mailconduit db upgrade`" in str(result.exception)
    assert not (tmp_path / "none.db").exists()
