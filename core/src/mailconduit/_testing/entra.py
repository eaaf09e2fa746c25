"""A local Microsoft Entra ID (v2.0) authority over HTTPS that the real msal talks to, for OAuth tests.

:class:`FakeEntra` serves, under ``https://127.0.0.1:PORT/<tenant>/`` with a leaf from the session
CA: OIDC discovery, ``authorize`` (a login form answered with a ``form_post`` page), ``token``
(authorization code with PKCE S256, refresh token (rotated), client credentials with a secret or a
client-assertion JWT signed by a registered certificate, device code with ``authorization_pending``
until approved) and ``devicecode``. Tokens are RS256 JWTs shaped like Entra's (``aud``, ``scp`` or
``roles``, ``tid``, ``upn``, ``oid``, ``exp``), each with a ``jti``. For the mail servers it decides
Exchange Online's rules in :meth:`FakeEntra.authorize` (own mailbox, FullAccess delegate, app-only
grant; per-protocol permission), also served as ``POST /exchange/authz`` for Dovecot's Lua passdb.

Test controls: :meth:`~FakeEntra.inject` (429/503 with Retry-After, ``invalid_grant``, AADSTS codes),
:meth:`~FakeEntra.revoke_refresh_tokens`, :meth:`~FakeEntra.revoke_access_tokens`, the request log
and :meth:`~FakeEntra.token_requests` (the counter of M1/M2), and :meth:`~FakeEntra.browse`, a test
"browser" that signs in and follows the ``form_post`` to the redirect URI. Every issued token and
authorization code is registered as a K1 canary. Helpers for the real servers are in
``mailconduit._testing.entra_servers``. Fixture ``fake_entra`` (session).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from mailconduit._testing._entra_http import handler_class
from mailconduit._testing.ca import CertFiles
from mailconduit._testing.canaries import canary, remember

if TYPE_CHECKING:
    import requests
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "OUTLOOK_AUDIENCES",
    "EntraClient",
    "EntraUser",
    "FakeEntra",
    "Injected",
    "fake_entra",
    "http_client",
]

OUTLOOK_AUDIENCES = ("https://outlook.office.com", "https://outlook.office365.com")
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
_PERMISSION = {  # service -> (delegated scope, app role)
    "smtp": ("SMTP.Send", "SMTP.SendAsApp"),
    "imap": ("IMAP.AccessAsUser.All", "IMAP.AccessAsApp"),
    "pop3": ("POP.AccessAsUser.All", "POP.AccessAsApp"),
}


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class EntraClient:
    """An app registration: ``secret`` or ``certificate`` (PEM) for confidential clients, else public."""

    client_id: str
    secret: str | None = field(default=None, repr=False)
    certificate: bytes | None = field(default=None, repr=False)
    roles: list[str] = field(default_factory=list)
    redirect_uris: list[str] = field(default_factory=list)


@dataclass
class EntraUser:
    """A user who can sign in: ``upn`` (the mail address), password, object id."""

    upn: str
    password: str = field(repr=False)
    oid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Injected:
    """A scripted token-endpoint answer: HTTP ``status``, OAuth ``error``, AADSTS code, Retry-After."""

    status: int
    error: str
    aadsts: int
    text: str
    retry_after: int | None = None
    times: int = 1
    client_id: str | None = None


class FakeEntra:
    """The authority; see the module docstring. ``start()`` it, ``stop()`` it (or use ``with``)."""

    def __init__(self, cert: CertFiles, *, access_token_lifetime: int = 3600) -> None:
        """Prepare a tenant with a new signing key, listening on a free port with ``cert``.

        Args:
            cert: the server certificate (from the session CA, or a bad one for H1 tests).
            access_token_lifetime: ``expires_in`` of access tokens (msal treats < 300 s as expired).
        """
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.tenant = str(uuid.uuid4())
        self.key: RSAPrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = b64url(secrets.token_bytes(9))
        self.access_token_lifetime = access_token_lifetime
        self.clients: dict[str, EntraClient] = {}
        self.users: dict[str, EntraUser] = {}
        self.mailbox_delegates: dict[str, list[str]] = {}  # mailbox -> upns with FullAccess / SendAs
        self.app_mailbox_grants: dict[str, list[str]] = {}  # client_id -> mailboxes
        self.codes: dict[str, dict[str, str | float]] = {}
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.device_user: str | None = None  # who approves device codes (after one pending poll)
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.revoked_jti: set[str] = set()
        self.issued_jti: set[str] = set()
        self.injected: list[Injected] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, form: secrets masked)
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_class(self))
        self.httpd.daemon_threads = True
        context = cert.server_context()
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        self.authority = f"{self.base}/{self.tenant}"
        self.issuer = f"{self.authority}/v2.0"
        self.token_endpoint = f"{self.authority}/oauth2/v2.0/token"
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> FakeEntra:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-entra", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeEntra:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ directory
    def add_client(
        self,
        *,
        secret: str | None = None,
        certificate: bytes | None = None,
        roles: tuple[str, ...] = (),
        redirect_uris: tuple[str, ...] = ("http://127.0.0.1",),
    ) -> EntraClient:
        """Register an app with a new client id; ``http://127.0.0.1`` matches any loopback port."""
        client = EntraClient(str(uuid.uuid4()), secret, certificate, list(roles), list(redirect_uris))
        self.clients[client.client_id] = client
        return client

    def add_user(self, upn: str, password: str | None = None) -> EntraUser:
        """Add a user who signs in as ``upn`` (a canary password unless given)."""
        user = EntraUser(upn.lower(), password or canary("password"))
        self.users[user.upn] = user
        return user

    def grant_mailbox(self, mailbox: str, *, delegate: str | None = None, app: str | None = None) -> None:
        """Give ``delegate`` (a upn) FullAccess/SendAs on ``mailbox``, or app ``app`` (client id) access."""
        if delegate is not None:
            self.mailbox_delegates.setdefault(mailbox.lower(), []).append(delegate.lower())
        if app is not None:
            self.app_mailbox_grants.setdefault(app, []).append(mailbox.lower())

    # ------------------------------------------------------------------ test controls
    def inject(
        self,
        status: int,
        error: str,
        aadsts: int,
        text: str = "injected by the test",
        *,
        retry_after: int | None = None,
        times: int = 1,
        client_id: str | None = None,
    ) -> None:
        """Answer the next ``times`` token requests (of ``client_id``, else any) with this error."""
        with self.lock:
            self.injected.append(Injected(status, error, aadsts, text, retry_after, times, client_id))

    def take_injected(self, client_id: str) -> Injected | None:
        """The injected answer for a token request of ``client_id``, counted down; None if none."""
        with self.lock:
            for item in self.injected:
                if item.client_id in (None, client_id):
                    item.times -= 1
                    if item.times <= 0:
                        self.injected.remove(item)
                    return item
        return None

    def revoke_refresh_tokens(self, upn: str) -> None:
        """Revoke every refresh token of ``upn``: refreshing gives ``invalid_grant`` (AADSTS700082)."""
        with self.lock:
            for rt in [k for k, v in self.refresh_tokens.items() if v["user"] == upn.lower()]:
                del self.refresh_tokens[rt]

    def revoke_access_tokens(self) -> None:
        """Make every access token issued so far fail at the mail servers (as if it expired)."""
        with self.lock:
            self.revoked_jti |= self.issued_jti

    def token_requests(self, client_id: str | None = None, grant: str | None = None) -> int:
        """How many token requests arrived (of ``client_id``, of ``grant``)."""
        with self.lock:
            return sum(
                1
                for method, path, form in self.requests
                if method == "POST"
                and path == "/oauth2/v2.0/token"
                and client_id in (None, form.get("client_id"))
                and grant in (None, form.get("grant_type"))
            )

    # ------------------------------------------------------------------ tokens
    def sign(self, claims: dict[str, Any]) -> str:
        """An RS256 JWT with the tenant's key."""
        import jwt

        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def access_token(self, client_id: str, scopes: list[str], user: str | None = None) -> str:
        """A new access token for ``scopes``, delegated (``user``) or app-only; remembered as a canary."""
        now = int(time.time())
        resource = [s for s in scopes if s not in OIDC_SCOPES]
        aud = resource[0].rpartition("/")[0] if resource else "00000003-0000-0000-c000-000000000000"
        jti = str(uuid.uuid4())
        claims: dict[str, Any] = {
            "aud": aud,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_token_lifetime,
            "tid": self.tenant,
            "azp": client_id,
            "appid": client_id,
            "ver": "2.0",
            "jti": jti,
        }
        if user is not None:
            oid = self.users[user].oid
            scp = " ".join(s.rpartition("/")[2] for s in resource)
            claims.update(sub=oid, oid=oid, upn=user, preferred_username=user, scp=scp)
        else:
            claims.update(sub=client_id, oid=client_id, roles=list(self.clients[client_id].roles))
        with self.lock:
            self.issued_jti.add(jti)
        return remember(self.sign(claims), "access-token")

    def user_tokens(self, client_id: str, user: str, scopes: list[str], nonce: str | None) -> dict[str, Any]:
        """The token response of a delegated grant: access, refresh (canary), id token, client_info."""
        oid = self.users[user].oid
        rt = remember(b64url(secrets.token_bytes(32)), "refresh-token")
        with self.lock:
            self.refresh_tokens[rt] = {"client_id": client_id, "user": user, "scopes": scopes}
        now = int(time.time())
        id_claims: dict[str, Any] = {
            "aud": client_id,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": oid,
            "oid": oid,
            "tid": self.tenant,
            "ver": "2.0",
            "preferred_username": user,
        }
        if nonce:
            id_claims["nonce"] = nonce
        resource = [s for s in scopes if s not in OIDC_SCOPES]
        return {
            "token_type": "Bearer",
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "scope": " ".join(resource) or " ".join(scopes),
            "access_token": self.access_token(client_id, scopes, user=user),
            "refresh_token": rt,
            "id_token": self.sign(id_claims),
            "client_info": b64url(json.dumps({"uid": oid, "utid": self.tenant}).encode()),
        }

    def validate(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this authority signed, unexpired, not revoked, for Outlook; else None."""
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key.public_key(),
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=list(OUTLOOK_AUDIENCES),
                leeway=0,
            )
        except jwt.PyJWTError:
            return None
        with self.lock:
            return None if claims.get("jti") in self.revoked_jti else claims

    def authorize(self, mailbox: str, token: str, service: str) -> bool:
        """Exchange Online's decision: may ``token`` open (or send as) ``mailbox`` over ``service``?"""
        claims = self.validate(token)
        if claims is None or service not in _PERMISSION:
            return False
        delegated, app_role = _PERMISSION[service]
        mailbox = mailbox.lower()
        if delegated in str(claims.get("scp", "")).split():
            upn = str(claims.get("upn", "")).lower()
            return mailbox == upn or upn in self.mailbox_delegates.get(mailbox, [])
        if app_role in claims.get("roles", []):
            return mailbox in self.app_mailbox_grants.get(str(claims.get("azp")), [])
        return False

    # ------------------------------------------------------------------ the test browser
    def browse(self, url: str, ca: str, *, login: str, password: str) -> str:
        """Sign in at the authorize ``url`` like a browser, follow the form_post; return the final page.

        Args:
            url: the sign-in URL the application built.
            ca: the CA file to verify the authority with.
            login: the user's upn.
            password: the user's password.
        """
        from html.parser import HTMLParser

        class Forms(HTMLParser):
            def __init__(self) -> None:
                super().__init__()
                self.action = ""
                self.fields: dict[str, str] = {}

            def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
                values = {k: v or "" for k, v in attrs}
                if tag == "form":
                    self.action = values.get("action", "")
                elif tag == "input" and values.get("name"):
                    self.fields[values["name"]] = values.get("value", "")

        session = http_client(ca)
        form = Forms()
        form.feed(session.get(url, timeout=10).text)
        fields = dict(form.fields, login=login, passwd=password)
        page = session.post(self.base + form.action, data=fields, timeout=10)
        posted = Forms()
        posted.feed(page.text)
        if not posted.action.startswith("http://127.0.0.1"):
            return page.text  # an error page of the authority
        return session.post(posted.action, data=posted.fields, timeout=10).text


def http_client(ca: str) -> requests.Session:
    """A requests session trusting only ``ca`` (``trust_env=False``: REQUESTS_CA_BUNDLE would win)."""
    import requests

    session = requests.Session()
    session.verify = ca
    session.trust_env = False
    return session


@pytest.fixture(scope="session")
def fake_entra(server_cert: CertFiles) -> Iterator[FakeEntra]:
    """The session's :class:`FakeEntra` (tests add their own clients and users)."""
    try:
        import jwt  # noqa: F401
        import msal  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        from mailconduit._testing.require import missing_server

        missing_server("msal and PyJWT", "pip install msal pyjwt requests")
    with FakeEntra(server_cert) as idp:
        yield idp
