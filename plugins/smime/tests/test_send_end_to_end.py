"""Sign + encrypt with the recipient's certificate found in slapd, send over SMTP, open with openssl cms."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mailconduit import Account, Direction, TlsMode, load_plugins
from mailconduit.testing import SlapdServer, SmtpServer
from mailconduit_smime import EncryptSettings, SignSettings, SmimeSettings

from .conftest import Identity, Pki, message

ldap_certs = pytest.importorskip("mailconduit_ldap_certs")
smtp = pytest.importorskip("mailconduit_smtp")


def test_signed_encrypted_mail_reaches_smtp_and_opens_with_openssl(
    alice: Identity,
    pki: Pki,
    slapd: SlapdServer,
    smtp_server: SmtpServer,
    ca_pem: Path,
    tmp_path: Path,
    openssl: Callable[..., subprocess.CompletedProcess[bytes]],
) -> None:
    carol = pki.issue("carol@example.test")
    slapd.add_entry(carol.address, [carol.der])
    p12 = alice.pkcs12(tmp_path / "alice.p12", None)
    account = Account(
        name="alice",
        email=alice.address,
        ca_file=str(ca_pem),
        send=smtp.SmtpSettings(
            protocol="smtp",
            host="127.0.0.1",
            port=smtp_server.plain_port,
            tls=TlsMode.NONE,
            timeout=timedelta(seconds=10),
        ),
        sections={
            "smime": SmimeSettings(
                sign=SignSettings(pkcs12=str(p12)),
                encrypt=EncryptSettings(certificates_from=("ldap",)),
                require_encryption=True,
                trust_anchors=str(pki.ca_pem),
            ),
            "ldap": ldap_certs.LdapSettings(host="127.0.0.1", port=slapd.port, tls=TlsMode.STARTTLS),
        },
    )
    plugins = load_plugins()
    data: Any = message(to=carol.address)
    for transform in sorted(
        plugins.hooks.message_transforms(account, direction=Direction.OUTGOING), key=lambda t: t.stage
    ):
        data = transform.apply(data).data
    session = smtp.SmtpTransport().open(account, None)
    try:
        session.send(alice.address, [carol.address], data)
    finally:
        session.close()
    (arrived,) = [m for m in smtp_server.messages if carol.address in m.rcpt_tos]
    (tmp_path / "arrived.eml").write_bytes(arrived.data)
    assert b"the invoice" not in arrived.data
    opened = openssl(
        "cms", "-decrypt", "-in", tmp_path / "arrived.eml", "-recip", carol.cert_pem, "-inkey", carol.key_pem
    )
    assert opened.returncode == 0, opened.stderr
    (tmp_path / "inner.eml").write_bytes(opened.stdout)
    verified = openssl("cms", "-verify", "-in", tmp_path / "inner.eml", "-CAfile", pki.ca_pem)
    assert verified.returncode == 0, verified.stderr
    assert b"the invoice is attached" in verified.stdout
