"""The README's demo runs to the end on this machine and shows what it promises.

It is the whole flow: loopback servers, a config with two accounts and two pipelines, templates,
queued sends drained by the runner's outbox worker, a message delivered while ``mailconduit run``
runs, replicated over IDLE and answered by template, the health endpoint, ``mailconduit status``,
a clean stop on SIGTERM, a sandboxed view of hostile HTML and the email log. Each assertion is a
line the demo prints.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from mailconduit.testing import missing_server

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_the_whole_flow_end_to_end() -> None:
    if not Path("/usr/sbin/dovecot").exists() and shutil.which("dovecot") is None:
        missing_server("dovecot", "apt-get install dovecot-imapd dovecot-pop3d")
    done = subprocess.run(
        [sys.executable, "-m", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    lines = out.splitlines()

    # the config with two accounts and two pipelines is accepted, the store created
    assert any(line.endswith("mailconduit.yaml: OK") for line in lines)
    assert "support-inbox\tsupport\tstore, log, reply, move\tlog" in lines
    assert "created the schema at revision" in out
    # two queued sends, one of them from a template of the templates folder
    assert "queued: message 2 from template 'invoice-reminder'" in lines
    # the runner starts both pipelines and the outbox; its worker sends the queued mail
    assert re.search(r"run \| runner \S+ started: pipelines support-inbox, billing-inbox; outbox on", out)
    assert (
        "  aiosmtpd got over starttls as support: Example Support <support@example.test> -> "
        "customer@example.test: 'Your ticket #4711'"
    ) in lines
    assert (
        "  aiosmtpd got over tls as billing: Example Billing <billing@example.test> -> "
        "jane@example.org: 'Invoice 2026-117 is due on 1 December 2026'"
    ) in lines
    assert (
        "  aiosmtpd got over starttls as support: Example Support <support@example.test> -> "
        "customer1@example.test: 'Re: Printer on floor 3 is out of toner'"
    ) in lines
    # mail delivered while the runner runs arrives over IDLE and is answered by template
    assert "  To: Customer 4 <customer4@example.test>" in lines
    assert "  Subject: Re: Where is my order #1234?" in lines
    assert "  In-Reply-To: <demo-4@example.test>" in lines
    assert "  Auto-Submitted: auto-replied" in lines
    assert '  | thank you for writing to us about "Where is my order #1234?".' in lines
    # the mailing list's newsletter got no reply, and the email log says why
    assert "Re: Newsletter" not in out
    assert re.search(r"no reply to message \d+: it came from a mailing list \(List-Id\)", out)
    assert "aiosmtpd received 4 messages in all: 2 queued sends and 2 replies by template" in lines
    # the health endpoint and `mailconduit status` while it runs
    assert "(HTTP 200)" in lines
    running = r'\{{"name":"{}","state":"running","mode":"{}","runs":\d+,"processed":{},"lag":0\}}'
    assert re.search(running.format("support-inbox", "idle", 3), out)
    assert re.search(running.format("billing-inbox", "polling", 1), out)
    assert 'mailconduit_pipeline_messages_total{pipeline="support-inbox",account="support"} 3' in lines
    assert re.search(r"^pipeline support-inbox \(support/INBOX\): running, mode idle,", out, re.MULTILINE)
    assert re.search(r"^pipeline billing-inbox \(billing/INBOX\): running, mode polling,", out, re.MULTILINE)
    assert "healthy" in lines
    # SIGTERM stops it cleanly
    assert "  run | stopping after the batch in hand (signal SIGTERM)" in lines
    assert re.search(r"run \| runner \S+ stopped\n", out)
    assert re.search(r"the runner exited with status 0 after", out)
    # the move step emptied the INBOX; the store holds all four messages (one over POP3S)
    assert "support on the server now: INBOX 0, Processed 3 (moved once stored)" in lines
    assert re.search(r"\tbilling\tINBOX\tCustomer 3 <customer3@example.test>\tInvoice from a supplier\t", out)
    # the sandboxed view of the hostile newsletter
    assert "the view runs scripts: False; loads remote content: False" in lines
