"""Run the demo: ``./run demo`` (or ``.venv/bin/python -m demo`` from the repository root).

It starts private servers on 127.0.0.1 with certificates from a throwaway CA (aiosmtpd for SMTP
with STARTTLS, Dovecot for IMAP/POP3), writes an example ``mailconduit.yaml`` that
points at them, and runs the ``mailconduit`` CLI against it: the plugins, a config check, the
store's schema, a message sent now and three queued and sent by the outbox worker over STARTTLS
with password auth, the email log, and the support mailbox replicated over IMAPS into the store
with each stored message moved to Processed on the server.
Everything lives in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import warnings
from contextlib import ExitStack
from pathlib import Path

import trustme

from mailconduit.testing import DovecotServer, MailUser, SmtpServer, issue_server_cert

CONFIG = """\
# Example mailconduit configuration written by the demo; secrets come from the environment.
database: sqlite:///{db}
secret_key: ${{env:MAILCONDUIT_KEY}}

accounts:
  support:
    email: support@example.test
    display_name: Example Support
    auth:
      method: password
      username: {smtp_user}
      password: ${{env:DEMO_SMTP_PASSWORD}}
    ca_file: {ca}
    send:
      protocol: smtp
      host: 127.0.0.1
      port: {smtp_port}
      tls: starttls
      max_attempts: 3
      backoff: {{initial: 1s, max: 10s}}
    receive:
      protocol: imap
      host: 127.0.0.1
      port: {imaps_port}
      tls: tls
      messages_per_run: 2
      replicate_everything: true
      after_replication: {{move_to: Processed}}
"""

INCOMING = [
    ("Printer on floor 3 is out of toner", "Could someone refill it? Thanks, Ann", None),
    ("Invoice 2026-117", "Please find the invoice attached.", ("invoice.pdf", b"%PDF-1.4 demo invoice")),
    (
        "Newsletter with a surprise",
        "<p>Hello!</p><script>alert('x')</script><img src='https://tracker.example/p.gif'>",
        None,
    ),
]


def incoming_mail() -> list[bytes]:
    """A few messages for the support mailbox, one with an attachment and one with hostile HTML."""
    from email.message import EmailMessage

    messages = []
    for number, (subject, body, attachment) in enumerate(INCOMING, start=1):
        message = EmailMessage()
        message["From"] = f"Customer {number} <customer{number}@example.test>"
        message["To"] = "support@example.test"
        message["Subject"] = subject
        message["Message-ID"] = f"<demo-{number}@example.test>"
        message["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
        if body.startswith("<"):
            message.set_content("HTML only", subtype="plain")
            message.add_alternative(body, subtype="html")
        else:
            message.set_content(body)
        if attachment:
            message.add_attachment(
                attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
            )
        messages.append(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
    return messages


def replicate(env: dict[str, str], work: Path, dovecot: DovecotServer, user: MailUser) -> None:
    """Replicate the support mailbox over IMAPS and move what was stored to Processed."""
    cli("folders", "support", env=env, cwd=work)
    cli("fetch", "support", env=env, cwd=work)
    left = len(dovecot.message_files(user, "INBOX"))
    moved = len(dovecot.message_files(user, "Processed"))
    print(f"on the server now: INBOX {left}, Processed {moved}")
    cli("messages", "list", env=env, cwd=work)
    step("A second run finds nothing new; a sandboxed view of the hostile newsletter")
    cli("fetch", "support", env=env, cwd=work)
    listing = subprocess.run(
        [str(Path(sys.executable).with_name("mailconduit")), "messages", "list", "--json"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    newsletter = next(m["id"] for m in json.loads(listing.stdout) if "surprise" in (m.get("subject") or ""))
    cli("messages", "view", str(newsletter), "--out", str(work / "newsletter.html"), env=env, cwd=work)
    page = (work / "newsletter.html").read_text()
    scripts, remote = "<script" in page.lower(), "tracker.example" in page
    print(f"the view runs scripts: {scripts}; loads remote content: {remote}")


def step(title: str) -> None:
    """Print a step heading."""
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def cli(*args: str, env: dict[str, str], cwd: Path) -> None:
    """Run the mailconduit CLI as a user would, showing the command and its output."""
    print(f"$ mailconduit {' '.join(args)}", flush=True)
    exe = Path(sys.executable).with_name("mailconduit")
    subprocess.run([str(exe), *args], env=env, cwd=cwd, check=True)


def send_and_queue(env: dict[str, str], work: Path, smtp: SmtpServer) -> None:
    """Send one message now and queue three, run the outbox worker, and show what arrived."""
    (work / "welcome.html").write_text(
        "<p>Hello,</p><p>thanks for writing; we answer <b>within a day</b>.</p>"
    )
    cli(
        "send",
        "-a",
        "support",
        "--to",
        "A Customer <customer@example.test>",
        "-s",
        "Your ticket #4711",
        "--html",
        str(work / "welcome.html"),
        env=env,
        cwd=work,
    )
    for number in (1, 2, 3):
        cli(
            "send",
            "-a",
            "support",
            "--to",
            f"reader{number}@example.test",
            "-s",
            f"Newsletter {number}",
            "--html",
            str(work / "welcome.html"),
            "--queue",
            env=env,
            cwd=work,
        )
    step("The outbox worker sends what is queued, over one reused session")
    cli("outbox", "run", "--once", env=env, cwd=work)
    cli("outbox", "list", env=env, cwd=work)
    received = smtp.wait_for_messages(4)
    print(
        f"aiosmtpd received {len(received)} messages over TLS: "
        + ", ".join(f"{m.rcpt_tos[0]} ({len(m.data)} bytes)" for m in received)
    )
    step("The email log")
    cli("log", "--account", "support", env=env, cwd=work)


def main() -> None:
    """Start the servers, write the config, run the CLI, clean up."""
    warnings.filterwarnings("ignore", module="aiosmtpd")  # it warns about AUTH on the plain listener
    work = Path(tempfile.mkdtemp(prefix="mailconduit-demo-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        step("Starting loopback servers with a throwaway certificate authority")
        ca = trustme.CA()
        ca_file = work / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        smtp = SmtpServer(issue_server_cert(ca, work, "good", name="smtp"), auth_required=True).start()
        stack.callback(smtp.stop)
        smtp_user = smtp.add_user("support")
        print(f"aiosmtpd: plain {smtp.plain_port}, STARTTLS {smtp.starttls_port}, TLS {smtp.tls_port}")
        dovecot = DovecotServer(ca).start()
        stack.callback(dovecot.stop)
        print(
            f"dovecot:  IMAP {dovecot.imap_port}, IMAPS {dovecot.imaps_port}, "
            f"POP3 {dovecot.pop3_port}, POP3S {dovecot.pop3s_port}"
        )
        mail_user = dovecot.add_user("support", smtp_user.password)  # one login for both servers
        dovecot.create_folder(mail_user, "Processed")
        dovecot.seed(mail_user, incoming_mail())

        config_path = work / "mailconduit.yaml"
        config_path.write_text(
            CONFIG.format(
                db=work / "mailconduit.db",
                smtp_user=smtp_user.name,
                ca=ca_file,
                smtp_port=smtp.starttls_port,
                imaps_port=dovecot.imaps_port,
            )
        )
        env = dict(
            os.environ,
            MAILCONDUIT_CONFIG=str(config_path),
            DEMO_SMTP_PASSWORD=smtp_user.password,
            MAILCONDUIT_KEY="",
        )
        step("A key for secrets at rest")
        key = (
            subprocess.run(
                [str(Path(sys.executable).with_name("mailconduit")), "key", "new"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        env["MAILCONDUIT_KEY"] = key
        print("made one with `mailconduit key new` and exported it as MAILCONDUIT_KEY (not shown)")
        os.environ.update(DEMO_SMTP_PASSWORD=smtp_user.password, MAILCONDUIT_KEY=key)

        step("The example configuration")
        print(textwrap.indent(config_path.read_text(), "  "))
        step("Installed plugins")
        cli("plugins", env=env, cwd=work)
        step("Checking the configuration")
        cli("config", "check", env=env, cwd=work)
        step("Creating the store")
        cli("db", "upgrade", env=env, cwd=work)
        step("Sending over STARTTLS with password auth: one now, three queued")
        send_and_queue(env, work, smtp)
        step("Replicating the support mailbox over IMAPS in batches of 2, moving each stored message")
        replicate(env, work, dovecot, mail_user)
        step("Done")
        print("The servers stop and the demo's folder is removed.")


if __name__ == "__main__":
    main()
