"""Run the demo: ``./run demo`` (or ``.venv/bin/python -m demo`` from the repository root).

The whole flow on embedded defaults, in a temporary folder removed at the end:

1. private servers on 127.0.0.1 with certificates from a throwaway CA: aiosmtpd (STARTTLS and
   implicit TLS, password AUTH) and Dovecot (IMAPS and POP3S);
2. a ``mailconduit.yaml`` with two accounts (``support``: sends over STARTTLS, receives over IMAPS;
   ``billing``: sends over implicit TLS, receives over POP3S), a templates folder and two
   pipelines: ``support-inbox`` (IMAP IDLE; store, log, reply by template, move) and
   ``billing-inbox`` (POP3S, polling); checked, and the SQLite store created;
3. two sends queued (plain HTML, and a template with data);
4. ``mailconduit run --health-port`` in the background: its outbox worker sends the queued mail,
   the pipelines replicate what is waiting, and a message delivered while it runs arrives over
   IDLE and is answered by template (the reply is shown as aiosmtpd received it);
5. ``/health`` fetched like ``curl`` would, ``mailconduit status``, then SIGTERM and a clean stop;
6. what the store holds: the messages, a sandboxed view of a hostile newsletter, the email log.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request
import warnings
from contextlib import ExitStack
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme

from mailconduit.testing import DovecotServer, MailUser, ReceivedMail, SmtpServer, issue_server_cert

CONFIG = """\
# mailconduit.yaml written by the demo; secrets come from the environment, never from this file.
database: sqlite:///{db}
secret_key: ${{env:MAILCONDUIT_KEY}}
templates: {templates}

accounts:
  support:
    email: support@example.test
    display_name: Example Support
    auth: {{method: password, username: support, password: '${{env:SUPPORT_PASSWORD}}'}}
    ca_file: {ca}
    send: {{protocol: smtp, host: 127.0.0.1, port: {starttls_port}, tls: starttls, max_attempts: 3}}
    receive: {{protocol: imap, host: 127.0.0.1, port: {imaps_port}, tls: tls}}
  billing:
    email: billing@example.test
    display_name: Example Billing
    auth: {{method: password, username: billing, password: '${{env:BILLING_PASSWORD}}'}}
    ca_file: {ca}
    send: {{protocol: smtp, host: 127.0.0.1, port: {tls_port}, tls: tls}}
    receive: {{protocol: pop3, host: 127.0.0.1, port: {pop3s_port}, tls: tls}}

pipelines:
  support-inbox:
    receive: support
    subscribe: true                        # IMAP IDLE: new mail is processed as it arrives
    steps:
      - store
      - log
      - reply: {{template: acknowledgement}}
      - move: {{to: Processed}}
    on_error: [log]
  billing-inbox:
    receive: billing
    poll_every: 1m                         # POP3 has no IDLE: polling
    steps: [store, log]
"""

ACKNOWLEDGEMENT = """\
# The reply the support-inbox pipeline sends; its subject defaults to "Re: <subject>".
from_display_name: Example Support
text: |
  Hello,

  thank you for writing to us about "{{ subject }}".
  It is ticket {{ id }} in our queue; a person will answer within one working day.

  Example Support
"""

INVOICE_REMINDER = """\
# Sent by `mailconduit send -a billing --template invoice-reminder --data invoice.json`.
from_display_name: Example Billing
to: "{{ customer }}"
subject: "Invoice {{ number }} is due on {{ due }}"
text: |
  Dear {{ customer_name }},

  invoice {{ number }} over {{ amount }} is due on {{ due }}.

  Example Billing
"""

INVOICE_DATA = {
    "customer": "Jane Doe <jane@example.org>",
    "customer_name": "Jane Doe",
    "number": "2026-117",
    "amount": "EUR 1,250.00",
    "due": "1 December 2026",
}

WELCOME = "<p>Hello,</p><p>thanks for writing; we answer <b>within a day</b>.</p>\n"

NEWSLETTER = "<p>Hello!</p><script>alert('x')</script><img src='https://tracker.example/p.gif'>"


def mail(
    number: int,
    to: str,
    subject: str,
    body: str,
    *,
    html: bool = False,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A customer's message, numbered for its Message-ID ``<demo-N@example.test>``."""
    message = EmailMessage()
    message["From"] = f"Customer {number} <customer{number}@example.test>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<demo-{number}@example.test>"
    message["Date"] = email.utils.format_datetime(datetime.now(UTC))
    for name, value in (headers or {}).items():
        message[name] = value
    if html:
        message.set_content("HTML only", subtype="plain")
        message.add_alternative(body, subtype="html")
    else:
        message.set_content(body)
    return message


def wire(message: EmailMessage) -> bytes:
    """The message as CRLF bytes."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def waiting_mail() -> tuple[list[bytes], list[bytes]]:
    """Mail already on the servers: two for support (one a hostile newsletter), one for billing."""
    support = [
        mail(1, "support@example.test", "Printer on floor 3 is out of toner", "Could someone refill it? Ann"),
        mail(
            2,
            "support@example.test",
            "Newsletter with a surprise",
            NEWSLETTER,
            html=True,
            headers={"List-Id": "<news.example.test>"},  # a mailing list: no automatic reply
        ),
    ]
    invoice = mail(3, "billing@example.test", "Invoice from a supplier", "Please find the invoice attached.")
    pdf = b"%PDF-1.4 demo invoice"
    invoice.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    return [wire(m) for m in support], [wire(invoice)]


def step(title: str) -> None:
    """Print a step heading."""
    print(f"\n\033[1m== {title}\033[0m", flush=True)


class Cli:
    """Runs the mailconduit CLI as a user would, with the demo's environment and folder."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.exe = str(Path(sys.executable).with_name("mailconduit"))

    def __call__(self, *args: str, check: bool = True) -> int:
        """Show the command and its output; return its exit status."""
        print(f"$ mailconduit {shlex.join(args)}", flush=True)
        return subprocess.run([self.exe, *args], env=self.env, cwd=self.cwd, check=check).returncode

    def output(self, *args: str, show: bool = False) -> str:
        """The command's standard output (shown with the command when ``show``)."""
        if show:
            print(f"$ mailconduit {shlex.join(args)}", flush=True)
        done = subprocess.run(
            [self.exe, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True, check=True
        )
        if show:
            print(done.stdout, end="", flush=True)
        return done.stdout

    def background(self, *args: str) -> subprocess.Popen[str]:
        """Start the command in the background; its log lines are shown prefixed with ``run |``."""
        print(f"$ mailconduit {shlex.join(args)} &", flush=True)
        process = subprocess.Popen(
            [self.exe, *args],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def relay() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                _, _, text = line.rstrip("\n").partition(" INFO mailconduit.runner: ")
                print(f"  run | {text or line.rstrip()}", flush=True)

        threading.Thread(target=relay, name="runner-log", daemon=True).start()
        return process


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    """GET ``url``: the status and the body (a 503 is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(what: str, ready: Any, timeout: float = 60.0) -> None:
    """Poll ``ready()`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"the demo gave up waiting for {what}")
        time.sleep(0.2)


def parsed(received: ReceivedMail) -> EmailMessage:
    """A message aiosmtpd received, parsed."""
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def show_received(received: list[ReceivedMail]) -> None:
    """One line per message aiosmtpd received: listener, envelope, subject."""
    for item in received:
        message = parsed(item)
        print(
            f"  aiosmtpd got over {item.listener} as {item.auth_user}: {message['From']} -> "
            f"{', '.join(item.rcpt_tos)}: {message['Subject']!r}"
        )


def setup(stack: ExitStack, work: Path) -> tuple[SmtpServer, DovecotServer, Cli, dict[str, MailUser]]:
    """Start the servers, seed the mailboxes, write the config and templates, make a key."""
    step("Loopback servers with certificates from a throwaway CA")
    ca = trustme.CA()
    ca_file = work / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    smtp = SmtpServer(issue_server_cert(ca, work, "good", name="smtp"), auth_required=True).start()
    stack.callback(smtp.stop)
    print(f"aiosmtpd: STARTTLS {smtp.starttls_port}, TLS {smtp.tls_port} (AUTH required)")
    dovecot = DovecotServer(ca).start()
    stack.callback(dovecot.stop)
    print(f"dovecot:  IMAPS {dovecot.imaps_port}, POP3S {dovecot.pop3s_port}")
    support_user = smtp.add_user("support")
    billing_user = smtp.add_user("billing")
    support_box = dovecot.add_user("support", support_user.password)  # one login for both servers
    billing_box = dovecot.add_user("billing", billing_user.password)
    dovecot.create_folder(support_box, "Processed")
    for_support, for_billing = waiting_mail()
    dovecot.seed(support_box, for_support)
    dovecot.seed(billing_box, for_billing)
    print("waiting on the servers: 2 messages for support (IMAP), 1 for billing (POP3)")

    templates = work / "templates"
    templates.mkdir()
    (templates / "acknowledgement.yaml").write_text(ACKNOWLEDGEMENT)
    (templates / "invoice-reminder.yaml").write_text(INVOICE_REMINDER)
    (work / "invoice.json").write_text(json.dumps(INVOICE_DATA, indent=2) + "\n")
    (work / "welcome.html").write_text(WELCOME)
    config_path = work / "mailconduit.yaml"
    config_path.write_text(
        CONFIG.format(
            db=work / "mailconduit.db",
            templates=templates,
            ca=ca_file,
            starttls_port=smtp.starttls_port,
            tls_port=smtp.tls_port,
            imaps_port=dovecot.imaps_port,
            pop3s_port=dovecot.pop3s_port,
        )
    )
    env = dict(
        os.environ,
        MAILCONDUIT_CONFIG=str(config_path),
        SUPPORT_PASSWORD=support_user.password,
        BILLING_PASSWORD=billing_user.password,
        MAILCONDUIT_KEY="",
    )
    cli = Cli(env, work)

    step("A key for secrets at rest")
    env["MAILCONDUIT_KEY"] = cli.output("key", "new").strip().splitlines()[-1]
    print("made one with `mailconduit key new` and exported it as MAILCONDUIT_KEY (not shown)")

    step("The configuration: two accounts, two pipelines, a templates folder")
    print(textwrap.indent(config_path.read_text(), "  "))
    for name in ("acknowledgement.yaml", "invoice-reminder.yaml"):
        print(f"  # templates/{name}")
        print(textwrap.indent((templates / name).read_text(), "  "))
    cli("config", "check")
    cli("db", "upgrade")
    cli("template", "list")
    return smtp, dovecot, cli, {"support": support_box, "billing": billing_box}


def queue_mail(cli: Cli, work: Path) -> None:
    """Queue a plain HTML message from support and a rendered template from billing."""
    step("Queueing mail for the runner's outbox worker: a plain message and a template")
    cli(
        "send", "-a", "support", "--to", "A Customer <customer@example.test>",
        "-s", "Your ticket #4711", "--html", "welcome.html", "--queue",
    )  # fmt: skip
    cli("send", "-a", "billing", "--template", "invoice-reminder", "--data", "invoice.json", "--queue")
    cli("outbox", "list")


class Service:
    """``mailconduit run --health-port PORT`` in the background, and what the demo asks of it."""

    def __init__(self, cli: Cli) -> None:
        self.cli = cli
        self.port = free_port()
        self.health = f"http://127.0.0.1:{self.port}/health"
        self.process = cli.background("run", "--health-port", str(self.port))

    def support_idle_after(self, processed: int) -> bool:
        """Whether /health shows support-inbox waiting in IDLE after ``processed`` messages."""
        try:
            status, body = get(self.health)
        except OSError:
            return False
        report = json.loads(body) if status in (200, 503) else {}
        return any(
            p["name"] == "support-inbox" and p["mode"] == "idle" and p["processed"] >= processed
            for p in report.get("pipelines", [])
        )

    def show_health(self) -> None:
        """/health (condensed as jq would) and /metrics' message counters, then `mailconduit status`."""
        fields = "name, state, mode, runs, processed, lag"
        print(f"$ curl -s {self.health} | jq -c '.healthy, (.pipelines[] | {{{fields}}})'")
        status, body = get(self.health)
        report = json.loads(body)
        print(f"(HTTP {status})")
        print(json.dumps(report["healthy"]))
        for pipeline in report["pipelines"]:
            shown = {key: pipeline[key] for key in fields.split(", ")}
            print(json.dumps(shown, separators=(",", ":")))
        counter = "mailconduit_pipeline_messages_total"
        print(f"$ curl -s http://127.0.0.1:{self.port}/metrics | grep ^{counter}")
        metrics = get(f"http://127.0.0.1:{self.port}/metrics")[1]
        print("\n".join(line for line in metrics.splitlines() if line.startswith(counter)))
        self.cli("status", check=False)

    def terminate(self) -> None:
        """SIGTERM, and how the runner ended."""
        print(f"$ kill -TERM {self.process.pid}")
        stopping = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        time.sleep(0.2)  # let the relay print the last log lines
        print(f"the runner exited with status {code} after {time.monotonic() - stopping:.1f} s")

    def kill(self) -> None:
        """Make sure the runner is gone (after an error)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def reply_on_idle(smtp: SmtpServer, dovecot: DovecotServer, support: MailUser, before: int) -> None:
    """Deliver a message into support's INBOX and show the reply aiosmtpd receives."""
    order = mail(4, "support@example.test", "Where is my order #1234?", "It was due last week. Bob")
    delivered = time.monotonic()
    dovecot.seed(support, [wire(order)])
    print("delivered 'Where is my order #1234?' into support's INBOX on the server")
    received = smtp.wait_for_messages(before + 1, timeout=30)
    took = time.monotonic() - delivered
    reply = next(parsed(m) for m in received if parsed(m)["In-Reply-To"] == "<demo-4@example.test>")
    print(f"aiosmtpd received the reply {took:.1f} s after delivery (the outbox looks every 5 s):")
    for name in ("From", "To", "Subject", "In-Reply-To", "References", "Auto-Submitted"):
        print(f"  {name}: {reply[name]}")
    print(textwrap.indent(reply.get_content().strip(), "  | ", lambda _line: True))


def run_service(cli: Cli, smtp: SmtpServer, dovecot: DovecotServer, boxes: dict[str, MailUser]) -> None:
    """Start the runner, deliver mail while it runs, show the reply, health and status; stop it."""
    step("Starting the runner: every pipeline and the outbox worker, with a health endpoint")
    service = Service(cli)
    try:
        wait_for("the support-inbox pipeline's first run", lambda: service.support_idle_after(2))
        first = smtp.wait_for_messages(3, timeout=30)  # the two queued and one reply
        print("the outbox worker sent the queued mail and the pipeline's first reply:")
        show_received(first)

        step("New mail for support while the runner runs: replicated over IDLE, answered by template")
        reply_on_idle(smtp, dovecot, boxes["support"], len(first))
        wait_for("the pipeline's run to be recorded", lambda: service.support_idle_after(3), timeout=15)

        step("The health endpoint and `mailconduit status`")
        service.show_health()

        step("SIGTERM: the runner finishes the batch in hand and stops")
        service.terminate()
    finally:
        service.kill()
    replies = sum(1 for m in smtp.messages if parsed(m)["Subject"].startswith("Re: "))
    print(
        f"aiosmtpd received {len(smtp.messages)} messages in all: "
        f"{len(smtp.messages) - replies} queued sends and {replies} replies by template"
    )


def inspect_store(cli: Cli, work: Path, dovecot: DovecotServer, boxes: dict[str, MailUser]) -> None:
    """What was replicated, what the server kept, a sandboxed view, the email log."""
    step("What the runner did on the servers and in the store")
    inbox = len(dovecot.message_files(boxes["support"], "INBOX"))
    processed = len(dovecot.message_files(boxes["support"], "Processed"))
    print(f"support on the server now: INBOX {inbox}, Processed {processed} (moved once stored)")
    listing = [line.split("\t") for line in cli.output("messages", "list", show=True).splitlines()]
    newsletter = next(row[0] for row in listing if "Newsletter with a surprise" in row)
    step("A sandboxed view of the hostile newsletter")
    cli("messages", "view", str(newsletter), "--out", "newsletter.html")
    page = (work / "newsletter.html").read_text()
    scripts, remote = "<script" in page.lower(), "tracker.example" in page
    print(f"the view runs scripts: {scripts}; loads remote content: {remote}")
    step("The email log of support")
    cli("log", "--account", "support")


def main() -> None:
    """Start the servers, write the config, run the CLI and the runner, clean up."""
    warnings.filterwarnings("ignore", module="aiosmtpd")
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd: AUTH is offered before TLS too
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="mailconduit-demo-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        smtp, dovecot, cli, boxes = setup(stack, work)
        queue_mail(cli, work)
        run_service(cli, smtp, dovecot, boxes)
        inspect_store(cli, work, dovecot, boxes)
        step("Done")
        took = time.monotonic() - started
        print(f"The demo took {took:.0f} s; the servers stop and the demo's folder is removed.")


if __name__ == "__main__":
    main()
