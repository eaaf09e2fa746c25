"""The example distribution examples/maildir-invoices, installed like any third-party plugin.

* `mailconduit plugins` lists it with what it registered;
* its contract suites run (the root pytest config collects ``examples/``) and pass on their own;
* it runs in a pipeline: `mailconduit send` through an account with ``send.protocol: maildir``
  delivers into a Dovecot user's Maildir, and the pipeline ``steps: [store, file_invoices: ...]``
  of the YAML replicates that mailbox over IMAP and files the invoices. A step that rejects (the
  invoice folder is blocked) leaves its messages on the server; the next run files them.

The pipeline is driven through the Python API (``mailconduit.replicate`` with the pipeline's
account and steps from the YAML), which is what one run of ``mailconduit run --once`` does for
this pipeline; once the runner lands, the same assertions should also hold through it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from email import message_from_bytes, policy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mailconduit.testing import DovecotServer, MailUser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "maildir-invoices"

CONFIG = """
database: sqlite:///{db}
accounts:
  billing:
    email: billing@acme.test
    display_name: ACME Billing
    send:
      protocol: maildir
      path: {maildir}
  accounts:
    email: {address}
    ca_file: {ca}
    auth: {{method: password, username: {user}, password: '${{env:MC_IMAP_PW}}'}}
    receive: {{protocol: imap, host: 127.0.0.1, port: {port}, tls: starttls}}
pipelines:
  invoices:
    receive: accounts
    after_replication: delete
    steps:
      - store
      - file_invoices:
          folder: {invoices}
          match: {{subject: "invoice|rechnung", filenames: ["*.pdf"]}}
"""


def _cli() -> Any:
    from mailconduit._cli import cli as command

    return command


def cli(config: Path, *args: str, password: str = "") -> Result:
    """``mailconduit --config CONFIG ARGS`` with the IMAP password in the environment."""
    return CliRunner().invoke(_cli(), ["--config", str(config), *args], env={"MC_IMAP_PW": password})


def test_mailconduit_plugins_lists_the_example_and_what_it_registered() -> None:
    result = CliRunner().invoke(_cli(), ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    (plugin,) = [p for p in report["plugins"] if p["name"] == "example_maildir"]
    assert plugin["distribution"] == "mailconduit-example-maildir"
    assert plugin["module"] == "mailconduit_example_maildir.plugin"
    assert sorted((r["kind"], r["name"]) for r in plugin["registered"]) == [
        ("pipeline action", "file_invoices"),
        ("receive transport", "maildir"),
        ("send transport", "maildir"),
    ]
    assert not [f for f in report["failures"] if f["plugin"] == "example_maildir"]


def test_the_root_pytest_config_collects_the_example_tests() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "examples" in config["testpaths"]


def test_the_example_contract_suites_pass_on_their_own() -> None:
    """The example's tests/test_contract.py, run by pytest as its author would run it: every suite passes."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLE / "tests" / "test_contract.py"),
            "-v",
            "-p",
            "no:randomly",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    passed = {line.split("::")[1] for line in run.stdout.splitlines() if "::" in line and " PASSED" in line}
    assert passed == {"TestMaildirSendTransport", "TestMaildirMailbox", "TestFileInvoicesAction"}
    assert " FAILED" not in run.stdout and " ERROR" not in run.stdout


# ----------------------------------------------------------------------------- the pipeline


@pytest.fixture
def setup(tmp_path: Path, dovecot: DovecotServer, dovecot_user: MailUser, ca_pem: Path) -> dict[str, Any]:
    config = tmp_path / "mailconduit.yaml"
    config.write_text(
        CONFIG.format(
            db=tmp_path / "mc.db",
            maildir=dovecot.maildir(dovecot_user),
            address=dovecot_user.address,
            ca=ca_pem,
            user=dovecot_user.name,
            port=dovecot.imap_port,
            invoices=tmp_path / "invoices",
        )
    )
    assert cli(config, "db", "upgrade", password=dovecot_user.password).exit_code == 0
    (tmp_path / "body.txt").write_text("Please find the document attached.\n")
    for name, content in {
        "invoice-2024-17.pdf": b"%PDF-1.4 invoice 17\n%%EOF\n",
        "invoice-2024-18.pdf": b"%PDF-1.4 invoice 18\n%%EOF\n",
        "menu.pdf": b"%PDF-1.4 lunch\n%%EOF\n",
    }.items():
        (tmp_path / name).write_bytes(content)
    return {"config": config, "tmp": tmp_path, "user": dovecot_user, "dovecot": dovecot}


def send(setup: dict[str, Any], subject: str, attachment: str) -> dict[str, Any]:
    tmp = setup["tmp"]
    result = cli(
        setup["config"],
        "send",
        "-a",
        "billing",
        "--to",
        setup["user"].address,
        "-s",
        subject,
        "--text",
        str(tmp / "body.txt"),
        "--attach",
        str(tmp / attachment),
        "--json",
        password=setup["user"].password,
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output)
    return report


def run_pipeline(setup: dict[str, Any], name: str) -> SimpleNamespace:
    """One run of pipeline ``name`` by `mailconduit run --once`: its account, overrides and steps."""
    result = cli(
        setup["config"],
        "run",
        "--once",
        "--no-outbox",
        "--pipeline",
        name,
        "--json",
        password=setup["user"].password,
    )
    assert result.exit_code == 0, result.output
    return SimpleNamespace(**json.loads(result.stdout)["pipelines"][name])


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_send_through_maildir_then_a_pipeline_files_the_invoices(setup: dict[str, Any]) -> None:
    tmp, user, dovecot = setup["tmp"], setup["user"], setup["dovecot"]
    sent = [
        send(setup, "Invoice 2024-17", "invoice-2024-17.pdf"),
        send(setup, "Lunch on Friday", "menu.pdf"),
        send(setup, "Rechnung 2024-18", "invoice-2024-18.pdf"),
    ]
    assert [report["status"] for report in sent] == ["sent"] * 3

    # the maildir transport delivered into the Dovecot user's Maildir, with the envelope on top
    delivered = [p.read_bytes() for p in dovecot.message_files(user)]
    assert len(delivered) == 3
    assert all(
        data.startswith(f"Return-Path: <billing@acme.test>\r\nDelivered-To: {user.address}\r\n".encode())
        for data in delivered
    )
    subjects = sorted(str(message_from_bytes(d, policy=policy.default)["Subject"]) for d in delivered)
    assert subjects == ["Invoice 2024-17", "Lunch on Friday", "Rechnung 2024-18"]

    invoices = tmp / "invoices"
    # 1. the invoice folder is blocked: both invoices are rejected and stay on the server
    invoices.write_text("a file where the folder should be")
    first = run_pipeline(setup, "invoices")
    assert (first.fetched, first.stored, first.failed, first.deleted) == (3, 3, 2, 1)
    left = sorted(str(message_from_bytes(p.read_bytes())["Subject"]) for p in dovecot.message_files(user))
    assert left == ["Invoice 2024-17", "Rechnung 2024-18"]  # the lunch mail was accepted and deleted
    log = cli(setup["config"], "log", "--json", password=user.password)
    assert "cannot file invoices into" in log.output and "Not a directory" in log.output

    # 2. unblocked, the next run files them and applies the after-replication action to them
    invoices.unlink()
    second = run_pipeline(setup, "invoices")
    assert (second.failed, second.deleted) == (0, 2)
    assert dovecot.message_files(user) == []
    (day,) = [p.name for p in invoices.iterdir()]
    assert files(invoices) == {
        f"{day}/billing@acme.test/invoice-2024-17.pdf": b"%PDF-1.4 invoice 17\n%%EOF\n",
        f"{day}/billing@acme.test/invoice-2024-18.pdf": b"%PDF-1.4 invoice 18\n%%EOF\n",
    }

    # 3. nothing new: nothing fetched, nothing filed twice
    third = run_pipeline(setup, "invoices")
    assert (third.fetched, third.failed) == (0, 0)
    assert len(files(invoices)) == 2
    log = cli(setup["config"], "log", "--json", password=user.password)
    assert "file_invoices: message" in log.output and "1 new, 0 already filed" in log.output
