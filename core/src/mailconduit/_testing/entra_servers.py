"""Mail servers that check Entra bearer tokens like Exchange Online: Dovecot (Lua passdb) and aiosmtpd.

Fixtures:

* ``oauth_dovecot`` (session): a :class:`~mailconduit._testing.dovecot.DovecotServer` offering
  XOAUTH2 and OAUTHBEARER, whose Lua passdb asks the session's ``fake_entra`` whether the token may
  open the mailbox named in ``user=`` over that protocol (issuer, audience, expiry, revocation, own
  mailbox / FullAccess delegate / app-only grant, IMAP vs POP permission). Users are added with
  ``oauth_dovecot.add_user()`` as usual; their address is the upn to give ``fake_entra.add_user``.
* ``oauth_smtp_server``: an :class:`~mailconduit._testing.smtp.SmtpServer` whose recorder
  (:class:`OAuthSmtpRecorder`) accepts ``AUTH XOAUTH2`` when ``fake_entra`` allows the token to
  send as the user (``SMTP.Send`` for the own mailbox or a delegate, ``SMTP.SendAsApp`` granted).
  A refused token gets the JSON error challenge, then ``535 5.7.3 Authentication unsuccessful``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mailconduit._testing.ca import CertFiles
from mailconduit._testing.dovecot import DOVECOT_BINARY, DovecotServer
from mailconduit._testing.entra import FakeEntra
from mailconduit._testing.require import missing_server
from mailconduit._testing.smtp import SmtpRecorder, SmtpServer

if TYPE_CHECKING:
    import trustme

__all__ = ["LUA_PASSDB", "OAuthSmtpRecorder", "oauth_dovecot", "oauth_dovecot_for", "oauth_smtp_server"]

LUA_TEMPLATE = Path(__file__).with_name("exchange_authz.lua.tmpl")
LUA_PASSDB = """passdb {
  driver = lua
  mechanisms = xoauth2 oauthbearer
  args = file=@DIR@/exchange_authz.lua blocking=yes
}"""
LUA_MODULE = Path("/usr/lib/dovecot/modules/auth/libauthdb_lua.so")


def oauth_dovecot_for(ca: trustme.CA, idp: FakeEntra) -> DovecotServer:
    """A (not started) Dovecot whose XOAUTH2/OAUTHBEARER logins are decided by ``idp``."""
    lua = LUA_TEMPLATE.read_text(encoding="utf-8").replace("@AUTHZ_URL@", f"{idp.base}/exchange/authz")
    return DovecotServer(
        ca,
        extra_mechs="xoauth2 oauthbearer",
        extra_passdb=LUA_PASSDB,
        extra_conf="ssl_client_ca_file = @DIR@/tls/ca.pem\n",
        files={"exchange_authz.lua": lua},
    )


@pytest.fixture(scope="session")
def oauth_dovecot(test_ca: trustme.CA, fake_entra: FakeEntra) -> Iterator[DovecotServer]:
    """Dovecot checking bearer tokens against the session's fake Entra (see the module docstring)."""
    if not DOVECOT_BINARY.exists() or not LUA_MODULE.exists():
        missing_server(
            "dovecot with the Lua passdb", "apt-get install dovecot-imapd dovecot-pop3d dovecot-auth-lua"
        )
    with oauth_dovecot_for(test_ca, fake_entra) as server:
        yield server


class OAuthSmtpRecorder(SmtpRecorder):
    """The recording handler plus ``AUTH XOAUTH2`` decided by a :class:`FakeEntra`."""

    def __init__(self, idp: FakeEntra) -> None:
        """Record as :class:`SmtpRecorder` does; ask ``idp`` about tokens."""
        super().__init__()
        self.idp = idp
        self.refused = 0

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        """Check the XOAUTH2 string ``user=...^Aauth=Bearer <token>^A^A`` (initial response or after 334)."""
        from aiosmtpd.smtp import AuthResult

        if len(args) == 2:
            raw = base64.b64decode(args[1])
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            raw = answer
        fields = dict(
            part.split("=", 1) for part in raw.decode("utf-8", "replace").split("\x01") if "=" in part
        )
        user, auth = fields.get("user", ""), fields.get("auth", "")
        if auth.startswith("Bearer ") and self.idp.authorize(user, auth[7:], "smtp"):
            server.record.auth_user = user
            return AuthResult(success=True, auth_data=user)
        self.refused += 1
        challenge = {"status": "401", "schemes": "bearer", "scope": "https://outlook.office.com/SMTP.Send"}
        await server.challenge_auth(json.dumps(challenge))
        return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")


@pytest.fixture
def oauth_smtp_server(server_cert: CertFiles, fake_entra: FakeEntra) -> Iterator[SmtpServer]:
    """An SMTP server (plain, STARTTLS, implicit TLS) whose XOAUTH2 is decided by ``fake_entra``."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        missing_server("aiosmtpd", "pip install 'mailconduit[testing]'")
    with SmtpServer(server_cert, recorder=OAuthSmtpRecorder(fake_entra)) as server:
        yield server
