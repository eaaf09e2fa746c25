"""`mailconduit fetch/adopt/folders/messages` end to end: CLI, replication, imap and pop3 plugins, Dovecot.

Each test gets a fresh Dovecot user and store; the config reaches the private Dovecot over IMAPS
(or POP3S) trusting the session's test CA.
"""

from __future__ import annotations

import base64
import imaplib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailconduit.testing import DovecotServer, MailUser

CONFIG = """
database: sqlite:///{db}
accounts:
  support:
    email: support@example.test
    ca_file: {ca}
    auth:
      method: password
      username: {user}
      password: ${{env:MC_RECEIVE_PW}}
    receive:
      protocol: {protocol}
      host: 127.0.0.1
      port: {port}
      tls: tls
      timeout: 10s
      messages_per_run: {per_run}
      poll_every: 1h
"""

Run = Callable[..., Result]


def mail(n: int, *, body: bytes = b"") -> bytes:
    return (
        f"From: Bob <bob@example.test>\r\nTo: support@example.test\r\nSubject: message {n}\r\n"
        f"Message-ID: <m{n}@example.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n".encode()
        + (body or f"Body {n}\r\n".encode())
    )


def write_config(
    tmp_path: Path, ca_pem: Path, user: MailUser, port: int, *, protocol: str = "imap", per_run: int = 50
) -> Path:
    config = tmp_path / "mailconduit.yaml"
    config.write_text(
        CONFIG.format(
            db=tmp_path / "mc.db", ca=ca_pem, user=user.name, protocol=protocol, port=port, per_run=per_run
        )
    )
    return config


@pytest.fixture
def make_cli(
    tmp_path: Path, ca_pem: Path, dovecot: DovecotServer, dovecot_user: MailUser
) -> Callable[..., Run]:
    def make(*, protocol: str = "imap", per_run: int = 50, password: str | None = None) -> Run:
        port = dovecot.imaps_port if protocol == "imap" else dovecot.pop3s_port
        config = write_config(tmp_path, ca_pem, dovecot_user, port, protocol=protocol, per_run=per_run)

        def run(*args: str) -> Result:
            from mailconduit._cli import cli

            env = {"MC_RECEIVE_PW": password or dovecot_user.password}
            return CliRunner().invoke(cli, ["--config", str(config), *args], env=env)

        assert run("db", "upgrade").exit_code == 0
        return run

    return make


@pytest.fixture
def cli(make_cli: Callable[..., Run]) -> Run:
    return make_cli()


def ok_json(result: Result) -> object:
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return json.loads(result.stdout)


def listed(cli: Run) -> list[dict[str, object]]:
    rows = ok_json(cli("messages", "list", "--json", "--limit", "1000"))
    assert isinstance(rows, list)
    return rows


def raw_of(cli: Run, message_id: object) -> bytes:
    result = cli("messages", "show", str(message_id), "--raw")
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def test_fetch_stores_every_message_once_byte_exact(
    cli: Run, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    seeded = [mail(1), mail(2, body=b"8-bit \xe4\xf6\xfc and NUL-free binary \x01\x7f\r\n"), mail(3)]
    dovecot.seed(dovecot_user, seeded)
    first = ok_json(cli("fetch", "support", "--json"))
    assert first == first | {"fetched": 3, "stored": 3, "known": 0, "failed": 0, "remaining": 0}
    second = ok_json(cli("fetch", "support", "--json"))
    assert second == second | {"fetched": 0, "stored": 0, "remaining": 0}
    rows = listed(cli)
    assert len(rows) == 3
    assert sorted(raw_of(cli, row["id"]) for row in rows) == sorted(seeded)
    text = cli("fetch", "support")
    assert text.exit_code == 0
    assert text.stdout.startswith("fetched 0, stored 0, known 0, failed 0, moved 0, deleted 0, remaining 0")


def test_limit_then_all_in_batches_with_progress_lines(
    cli: Run, dovecot: DovecotServer, dovecot_user: MailUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailconduit._replicate import _plan

    monkeypatch.setattr(_plan, "BATCH_SIZE", 4)
    dovecot.seed(dovecot_user, [mail(n) for n in range(1, 15)])
    limited = ok_json(cli("fetch", "support", "--limit", "3", "--json"))
    assert limited == limited | {"stored": 3, "remaining": 11}
    everything = cli("fetch", "support", "--all")
    assert everything.exit_code == 0, everything.output
    assert "stored 11" in everything.stdout and "remaining 0" in everything.stdout
    assert [line for line in everything.stderr.splitlines() if line.startswith("progress:")] == [
        "progress: 4/11",
        "progress: 8/11",
        "progress: 11/11",
    ]
    subjects = sorted(int(str(r["subject"]).split()[1]) for r in listed(cli))
    assert subjects == list(range(1, 15))


def test_dry_run_stores_nothing(cli: Run, dovecot: DovecotServer, dovecot_user: MailUser) -> None:
    dovecot.seed(dovecot_user, [mail(n) for n in range(1, 4)])
    dry = ok_json(cli("fetch", "support", "--dry-run", "--json"))
    assert dry == dry | {"fetched": 0, "stored": 0, "remaining": 3, "dry_run": True}
    assert "dry run: 3 new message(s)" in cli("fetch", "support", "--dry-run").stdout
    assert listed(cli) == []
    assert ok_json(cli("fetch", "support", "--json"))["stored"] == 3  # type: ignore[index]


def test_adopt_then_fetch_stores_only_newer_mail(
    cli: Run, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    dovecot.seed(dovecot_user, [mail(n) for n in range(1, 4)])
    adopted = ok_json(cli("adopt", "support", "--json"))
    assert adopted == {"account": "support", "folder": "INBOX", "adopted": 3, "known": 0}
    dovecot.seed(dovecot_user, [mail(4), mail(5)])
    fetched = ok_json(cli("fetch", "support", "--json"))
    assert fetched == fetched | {"fetched": 2, "stored": 2, "remaining": 0}
    assert sorted(str(r["subject"]) for r in listed(cli)) == ["message 4", "message 5"]
    again = cli("adopt", "support")
    assert again.exit_code == 0 and "adopted 0 message(s)" in again.stdout and "(5 were known" in again.stdout


def test_folders_lists_hierarchy_decoded_names_and_special_use(
    cli: Run, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    dovecot.create_folder(dovecot_user, "Projects/2024")
    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10)
    client.login(dovecot_user.name, dovecot_user.password)
    assert client.create('"&AMQ-rger"')[0] == "OK"  # modified UTF-7 for "Ärger"
    client.logout()
    rows = ok_json(cli("folders", "support", "--json"))
    assert isinstance(rows, list)
    by_name = {row["name"]: row for row in rows}
    assert {by_name[n]["special_use"] for n in ("Sent", "Trash", "Drafts", "Archive")} == {
        "\\Sent",
        "\\Trash",
        "\\Drafts",
        "\\Archive",
    }
    assert "Ärger" in by_name
    nested = next(row for name, row in by_name.items() if name.endswith("2024"))
    assert nested["parent"] == "Projects" and nested["depth"] == 1 and nested["leaf"] == "2024"
    text = cli("folders", "support")
    assert text.exit_code == 0
    assert any(line.startswith("  2024\t") for line in text.stdout.splitlines())


def test_pop3_fetch_once_and_no_folders(
    make_cli: Callable[..., Run], dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    cli = make_cli(protocol="pop3")
    seeded = [mail(1), mail(2)]
    dovecot.seed(dovecot_user, seeded)
    assert ok_json(cli("fetch", "support", "--json"))["stored"] == 2  # type: ignore[index]
    assert ok_json(cli("fetch", "support", "--json"))["stored"] == 0  # type: ignore[index]
    assert sorted(raw_of(cli, row["id"]) for row in listed(cli)) == sorted(seeded)
    folders = cli("folders", "support", "--json")
    assert json.loads(folders.stdout) == [
        {
            "name": "INBOX",
            "leaf": "INBOX",
            "parent": None,
            "depth": 0,
            "delimiter": None,
            "special_use": None,
            "flags": [],
        }
    ]
    assert "no folders besides INBOX" in folders.stderr


HOSTILE_NAMES = [
    ('filename="../../etc/passwd"', b"root:x:0:0"),
    ('filename="..\\..\\windows\\win.ini"', b"[fonts]"),
    ("filename*=utf-8''evil%0D%0Aname.txt", b"crlf"),
    ('filename=".bashrc"', b"alias ls=rm"),
    ('filename="report.pdf"', b"%PDF-1"),
    ('filename="report.pdf"', b"%PDF-2"),
    ('filename=".."', b"dots"),
]


def hostile_attachments() -> bytes:
    parts = [
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n",
        *(
            f"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; {param}\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(content).decode()}\r\n".encode()
            for param, content in HOSTILE_NAMES
        ),
    ]
    head = (
        b"From: mallory@example.test\r\nTo: support@example.test\r\nSubject: files\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    )
    return head + b"".join(parts) + b"--b--\r\n"


def test_save_attachments_keeps_hostile_names_inside_the_directory(
    cli: Run, dovecot: DovecotServer, dovecot_user: MailUser, tmp_path: Path
) -> None:
    raw = hostile_attachments()
    dovecot.seed(dovecot_user, [raw])
    assert ok_json(cli("fetch", "support", "--json"))["stored"] == 1  # type: ignore[index]
    (message_id,) = [row["id"] for row in listed(cli)]
    out = tmp_path / "saved"
    shown = cli("messages", "show", str(message_id), "--save-attachments", str(out), "--json")
    report = ok_json(shown)
    assert isinstance(report, dict)
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert files == {
        "passwd": b"root:x:0:0",
        "win.ini": b"[fonts]",
        "evil name.txt": b"crlf",
        "bashrc": b"alias ls=rm",
        "report.pdf": b"%PDF-1",
        "report-2.pdf": b"%PDF-2",
        "attachment-7": b"dots",
    }
    assert all(Path(s["path"]).parent == out for s in report["saved"])
    assert not (tmp_path.parent / "etc").exists()
    again = cli("messages", "show", str(message_id), "--save-attachments", str(out))
    assert again.exit_code == 0
    assert (out / "passwd-2").read_bytes() == b"root:x:0:0"  # never overwrites


def test_show_headers_defects_attachments_and_raw_to_file(
    cli: Run, dovecot: DovecotServer, dovecot_user: MailUser, tmp_path: Path
) -> None:
    raw = hostile_attachments().replace(b"Subject: files", b"Subject: files \x1b[31mred")
    dovecot.seed(dovecot_user, [raw])
    assert ok_json(cli("fetch", "support", "--json"))["stored"] == 1  # type: ignore[index]
    (message_id,) = [row["id"] for row in listed(cli)]
    shown = cli("messages", "show", str(message_id))
    assert shown.exit_code == 0, shown.output
    assert "From: mallory@example.test" in shown.stdout
    assert "\x1b" not in shown.stdout and "\\x1b[31mred" in shown.stdout
    assert "attachments:" in shown.stdout and "report.pdf" in shown.stdout
    target = tmp_path / "copy.eml"
    written = cli("messages", "show", str(message_id), "--raw", "--out", str(target))
    assert written.exit_code == 0 and written.stdout_bytes == b""
    assert target.read_bytes() == raw
    missing = cli("messages", "show", "999999")
    assert missing.exit_code == 1 and "no message 999999" in missing.output


def test_messages_view_writes_a_sandboxed_page(
    cli: Run, dovecot: DovecotServer, dovecot_user: MailUser, tmp_path: Path
) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.test", "support@example.test", "html"
    msg.set_content("plain")
    msg.add_alternative(
        '<p onclick="x()">Hi<script>alert(1)</script><img src="http://tracker.test/p.gif"></p>',
        subtype="html",
    )
    dovecot.seed(dovecot_user, [bytes(msg).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")])
    assert ok_json(cli("fetch", "support", "--json"))["stored"] == 1  # type: ignore[index]
    (message_id,) = [row["id"] for row in listed(cli)]
    page = tmp_path / "view.html"
    result = cli("messages", "view", str(message_id), "--out", str(page))
    assert result.exit_code == 0 and result.stdout.strip() == str(page.resolve())
    html = page.read_text()
    assert '<iframe sandbox=""' in html and "allow-scripts" not in html
    assert "script" not in html.lower().replace("no script", "") and "tracker.test" not in html


def test_wrong_password_exits_1_with_one_clear_line(
    make_cli: Callable[..., Run], dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    wrong = "wrong-" + dovecot_user.password
    cli = make_cli(password=wrong)
    result = cli("fetch", "support")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: fetch for account 'support' failed:")
    assert "127.0.0.1" in lines[0]
    assert "Traceback" not in result.output
    assert wrong not in result.output and dovecot_user.password not in result.output


def test_wrong_password_through_the_real_entry_point(
    tmp_path: Path, ca_pem: Path, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    config = write_config(tmp_path, ca_pem, dovecot_user, dovecot.imaps_port)
    env = {**os.environ, "MC_RECEIVE_PW": "not-" + dovecot_user.password}
    base = [sys.executable, "-m", "mailconduit", "--config", str(config)]
    assert subprocess.run([*base, "db", "upgrade"], env=env, capture_output=True, check=False).returncode == 0
    done = subprocess.run(
        [*base, "fetch", "support"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr and dovecot_user.password not in done.stderr


def test_watch_stores_mail_woken_by_idle_and_stops_on_sigterm(
    tmp_path: Path, ca_pem: Path, dovecot: DovecotServer, dovecot_user: MailUser
) -> None:
    config = write_config(tmp_path, ca_pem, dovecot_user, dovecot.imaps_port)  # poll_every: 1h
    env = {**os.environ, "MC_RECEIVE_PW": dovecot_user.password}
    base = [sys.executable, "-m", "mailconduit", "--config", str(config)]
    subprocess.run([*base, "db", "upgrade"], env=env, check=True, capture_output=True)
    dovecot.seed(dovecot_user, [mail(1)])
    proc = subprocess.Popen(
        [*base, "fetch", "support", "--watch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not any(line.startswith("run 1:") for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("run 1: fetched 1, stored 1" in line for line in lines), lines
        time.sleep(1.0)  # let the watcher enter IDLE
        dovecot.seed(dovecot_user, [mail(2)])
        deadline = time.monotonic() + 30
        while not any(line.startswith("run 2:") for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("run 2: fetched 1, stored 1" in line for line in lines), lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=5)
    assert proc.returncode == 0, proc.stderr.read()  # type: ignore[union-attr]
    assert lines[-1].startswith("stopped after 2 run(s): fetched 2, stored 2")


def test_unreachable_server_exits_1_with_one_line(
    tmp_path: Path, ca_pem: Path, dovecot_user: MailUser
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = write_config(tmp_path, ca_pem, dovecot_user, closed_port)
    from mailconduit._cli import cli

    env = {"MC_RECEIVE_PW": dovecot_user.password}
    assert CliRunner().invoke(cli, ["--config", str(config), "db", "upgrade"], env=env).exit_code == 0
    for args in (["fetch", "support"], ["adopt", "support"], ["folders", "support"]):
        result = CliRunner().invoke(cli, ["--config", str(config), *args], env=env)
        assert result.exit_code == 1, result.output
        (line,) = result.output.strip().splitlines()
        assert line.startswith("Error: ") and "127.0.0.1" in line and "Traceback" not in result.output
