"""The HTTP side of the fake Entra authority: routes, client authentication, the grants.

HTTP/1.1 (Dovecot's HTTP client waits 2 s for ``100 Continue`` otherwise), every response with a
Content-Length; errors in Entra's shape (``error``, ``error_description: "AADSTSnnnn: ..."``,
``error_codes``). Secrets in the request log are masked.
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlparse

from mailconduit._testing.canaries import remember

if TYPE_CHECKING:
    from mailconduit._testing.entra import EntraClient, FakeEntra

__all__ = ["handler_class"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MASKED = frozenset(
    {"client_secret", "passwd", "client_assertion", "code", "refresh_token", "code_verifier", "device_code"}
)


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _redirect_ok(client: EntraClient, uri: str) -> bool:
    """Registered exactly, or a loopback registration matching any port (Entra's rule for native apps)."""
    for registered in client.redirect_uris:
        if uri == registered:
            return True
        if registered in ("http://127.0.0.1", "http://localhost") and urlparse(uri).hostname in (
            "127.0.0.1",
            "localhost",
        ):
            return urlparse(uri).scheme == "http"
    return False


def handler_class(idp: FakeEntra) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to ``idp``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default stderr log (requests are in ``idp.requests``)."""

        def _send(
            self, code: int, body: bytes, ctype: str, headers: tuple[tuple[str, str], ...] = ()
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj: object, headers: tuple[tuple[str, str], ...] = ()) -> None:
            body = json.dumps(obj).encode()
            self._send(
                code, body, "application/json; charset=utf-8", (("Cache-Control", "no-store"), *headers)
            )

        def _error(
            self, code: int, error: str, aadsts: int, text: str, headers: tuple[tuple[str, str], ...] = ()
        ) -> None:
            description = f"AADSTS{aadsts}: {text}"
            self._json(
                code, {"error": error, "error_description": description, "error_codes": [aadsts]}, headers
            )

        def _route(self) -> tuple[str, dict[str, str]]:
            url = urlparse(self.path)
            prefix = f"/{idp.tenant}"
            path = url.path[len(prefix) :] if url.path.startswith(prefix + "/") else url.path
            return path, {k: v[0] for k, v in parse_qs(url.query).items()}

        def _log(self, method: str, path: str, form: dict[str, str]) -> None:
            masked = {k: ("***" if k in _MASKED else v) for k, v in form.items()}
            with idp.lock:
                idp.requests.append((method, path, masked))

        def do_GET(self) -> None:
            """Discovery and the sign-in form."""
            path, query = self._route()
            self._log("GET", path, query)
            if path == "/v2.0/.well-known/openid-configuration":
                return self._json(
                    200,
                    {
                        "issuer": idp.issuer,
                        "authorization_endpoint": f"{idp.authority}/oauth2/v2.0/authorize",
                        "token_endpoint": idp.token_endpoint,
                        "device_authorization_endpoint": f"{idp.authority}/oauth2/v2.0/devicecode",
                    },
                )
            if path == "/oauth2/v2.0/authorize":
                client = idp.clients.get(query.get("client_id", ""))
                if client is None:
                    return self._error(
                        400, "unauthorized_client", 700016, "Application not found in the directory."
                    )
                if not _redirect_ok(client, query.get("redirect_uri", "")):
                    return self._error(400, "invalid_request", 50011, "The redirect URI does not match.")
                hidden = "".join(
                    f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                    for k, v in query.items()
                )
                page = (
                    f'<form method="post" action="/{idp.tenant}/oauth2/v2.0/authorize">{hidden}'
                    '<input name="login"><input name="passwd" type="password"><button>Sign in</button></form>'
                )
                return self._send(200, page.encode(), "text/html; charset=utf-8")
            return self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            """Login, token, device code, and the Exchange decision for Dovecot."""
            path, _ = self._route()
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            self._log("POST", path, form)
            if path == "/exchange/authz":
                ok = idp.authorize(form.get("user", ""), form.get("token", ""), form.get("service", ""))
                return self._json(200 if ok else 403, {"ok": ok})
            if path == "/oauth2/v2.0/authorize":
                return self._login(form)
            if path == "/oauth2/v2.0/devicecode":
                return self._devicecode(form)
            if path == "/oauth2/v2.0/token":
                return self._token(form)
            return self._json(404, {"error": "not_found"})

        def _login(self, form: dict[str, str]) -> None:
            user = idp.users.get(form.get("login", "").lower())
            if user is None or not secrets.compare_digest(user.password, form.get("passwd", "")):
                return self._error(400, "invalid_grant", 50126, "Invalid username or password.")
            code = remember(_b64url(secrets.token_bytes(24)), "auth-code")
            with idp.lock:
                idp.codes[code] = {**form, "user": user.upn, "expires": time.time() + 600}
            params = {"code": code, **({"state": form["state"]} if "state" in form else {})}
            if form.get("response_mode") == "form_post":
                inputs = "".join(
                    f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in params.items()
                )
                page = (
                    '<body onload="document.forms[0].submit()"><form method="post" '
                    f'action="{html.escape(form["redirect_uri"])}">{inputs}</form></body>'
                )
                return self._send(200, page.encode(), "text/html; charset=utf-8")
            location = form["redirect_uri"] + "?" + urlencode(params)
            return self._send(302, b"", "text/plain", (("Location", location),))

        def _devicecode(self, form: dict[str, str]) -> None:
            client = idp.clients.get(form.get("client_id", ""))
            if client is None:
                return self._error(
                    400, "unauthorized_client", 700016, "Application not found in the directory."
                )
            device_code = remember(_b64url(secrets.token_bytes(24)), "device-code")
            user_code = secrets.token_hex(4).upper()
            with idp.lock:
                idp.device_codes[device_code] = {
                    "client_id": client.client_id,
                    "scopes": form.get("scope", "").split(),
                    "polls": 0,
                    "user_code": user_code,
                }
            verification = f"{idp.base}/devicelogin"
            return self._json(
                200,
                {
                    "device_code": device_code,
                    "user_code": user_code,
                    "verification_uri": verification,
                    "expires_in": 900,
                    "interval": 1,
                    "message": f"To sign in, open {verification} and enter the code {user_code}.",
                },
            )

        def _authenticate(self, client: EntraClient | None, form: dict[str, str]) -> bool:
            if client is None:
                return False
            if client.secret is not None:
                return secrets.compare_digest(client.secret, form.get("client_secret", ""))
            if client.certificate is not None:
                return self._assertion_ok(client, form)
            return "client_secret" not in form and "client_assertion" not in form  # a public client

        def _assertion_ok(self, client: EntraClient, form: dict[str, str]) -> bool:
            import jwt
            from cryptography import x509

            if form.get("client_assertion_type") != ASSERTION_TYPE or client.certificate is None:
                return False
            key = x509.load_pem_x509_certificate(client.certificate).public_key()
            try:
                claims = jwt.decode(
                    form.get("client_assertion", ""),
                    key,  # type: ignore[arg-type]  # an RSA or EC public key
                    algorithms=["RS256", "PS256", "ES256"],
                    audience=idp.token_endpoint,
                    options={"require": ["exp", "aud", "iss", "sub"]},
                )
            except jwt.PyJWTError:
                return False
            return bool(claims["iss"] == claims["sub"] == client.client_id)

        def _token(self, form: dict[str, str]) -> None:
            client_id = form.get("client_id", "")
            injected = idp.take_injected(client_id)
            if injected is not None:
                extra = (
                    (("Retry-After", str(injected.retry_after)),) if injected.retry_after is not None else ()
                )
                return self._error(injected.status, injected.error, injected.aadsts, injected.text, extra)
            client = idp.clients.get(client_id)
            if client is None:
                return self._error(
                    400, "unauthorized_client", 700016, f"Application '{client_id}' not found."
                )
            if not self._authenticate(client, form):
                return self._error(401, "invalid_client", 7000215, "Invalid client secret provided.")
            grant, scopes = form.get("grant_type", ""), form.get("scope", "").split()
            if grant == "client_credentials":
                if client.secret is None and client.certificate is None:
                    return self._error(
                        400, "invalid_client", 7000218, "A client secret or assertion is required."
                    )
                if len(scopes) != 1 or not scopes[0].endswith("/.default"):
                    return self._error(400, "invalid_scope", 1002012, "The scope must end with /.default.")
                token = idp.access_token(client_id, scopes)
                life = idp.access_token_lifetime
                return self._json(
                    200,
                    {
                        "token_type": "Bearer",
                        "expires_in": life,
                        "ext_expires_in": life,
                        "access_token": token,
                    },
                )
            if grant == "authorization_code":
                return self._code_grant(client, form)
            if grant == "refresh_token":
                with idp.lock:
                    rt = idp.refresh_tokens.pop(form.get("refresh_token", ""), None)
                if rt is None or rt["client_id"] != client_id:
                    return self._error(
                        400, "invalid_grant", 700082, "The refresh token has expired or was revoked."
                    )
                return self._json(200, idp.user_tokens(client_id, rt["user"], scopes or rt["scopes"], None))
            if grant == DEVICE_GRANT:
                return self._device_grant(client, form)
            return self._error(400, "unsupported_grant_type", 70003, f"Unsupported grant type '{grant}'.")

        def _code_grant(self, client: EntraClient, form: dict[str, str]) -> None:
            with idp.lock:
                code = idp.codes.pop(form.get("code", ""), None)
            if (
                code is None
                or float(code["expires"]) < time.time()
                or code["client_id"] != client.client_id
                or code["redirect_uri"] != form.get("redirect_uri")
            ):
                return self._error(
                    400, "invalid_grant", 70008, "The code has expired or was already redeemed."
                )
            if "code_challenge" in code:
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                if code.get("code_challenge_method") != "S256" or _b64url(digest) != code["code_challenge"]:
                    return self._error(400, "invalid_grant", 501481, "The code_verifier does not match.")
            scopes = str(code.get("scope", "")).split()
            nonce = code.get("nonce")
            return self._json(
                200, idp.user_tokens(client.client_id, str(code["user"]), scopes, str(nonce or ""))
            )

        def _device_grant(self, client: EntraClient, form: dict[str, str]) -> None:
            with idp.lock:
                entry = idp.device_codes.get(form.get("device_code", ""))
                if entry is None or entry["client_id"] != client.client_id:
                    pending = None
                else:
                    entry["polls"] += 1
                    pending = entry["polls"] == 1 or idp.device_user is None
            if entry is None or pending is None:
                return self._error(400, "expired_token", 70020, "The device code has expired.")
            if pending:
                return self._error(400, "authorization_pending", 70016, "The user has not signed in yet.")
            with idp.lock:
                idp.device_codes.pop(form.get("device_code", ""), None)
            assert idp.device_user is not None
            return self._json(200, idp.user_tokens(client.client_id, idp.device_user, entry["scopes"], None))

    return Handler
