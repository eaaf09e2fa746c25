"""Run the demo: ``./run demo`` (or ``.venv/bin/python -m demo`` from the repository root).

It starts private servers on 127.0.0.1 with certificates from a throwaway CA (aiosmtpd for SMTP
with STARTTLS, Dovecot for IMAP/POP3 when installed), writes an example ``mailconduit.yaml`` that
points at them, and runs the ``mailconduit`` CLI against it: the plugins, a config check, the
store's schema, a message sent now and three queued and sent by the outbox worker over STARTTLS
with password auth, and the email log.
Everything lives in a temporary folder that is removed at the end.
"""

from __future__ import annotations

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

from mailconduit.testing import DovecotServer, SmtpServer, issue_server_cert

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
"""


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
        if shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists():
            dovecot = DovecotServer(ca).start()
            stack.callback(dovecot.stop)
            print(
                f"dovecot:  IMAP {dovecot.imap_port}, IMAPS {dovecot.imaps_port}, "
                f"POP3 {dovecot.pop3_port}, POP3S {dovecot.pop3s_port}"
            )

        config_path = work / "mailconduit.yaml"
        config_path.write_text(
            CONFIG.format(
                db=work / "mailconduit.db", smtp_user=smtp_user.name, ca=ca_file, smtp_port=smtp.starttls_port
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
        step("Done")
        print("The servers stop and the demo's folder is removed.")


if __name__ == "__main__":
    main()
