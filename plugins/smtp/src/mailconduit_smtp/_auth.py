"""SMTP AUTH (RFC 4954) with mailconduit ``Credentials``: PLAIN/LOGIN for passwords, XOAUTH2 for tokens.

The exchange is driven here rather than by ``smtplib.SMTP.auth``, which encodes every response as
ASCII (a non-ASCII password fails) and accepts ``503`` as success. The SASL strings come from
``mailconduit``'s ``sasl_*`` builders and the pure ``_sasl`` module. A refusal raises
:class:`AuthenticationError` quoting the server's reply with any echo of what we sent replaced by
``***``; the secret is never in a message or a log.
"""

from __future__ import annotations

import base64
import logging

from mailconduit import (
    AuthenticationError,
    Credentials,
    HeaderInjectionError,
    sasl_oauthbearer,
    sasl_plain,
    sasl_xoauth2,
)
from mailconduit_smtp import _sasl
from mailconduit_smtp._client import SmtpClient
from mailconduit_smtp._errmap import reply_text

__all__ = ["MAX_CHALLENGES", "authenticate"]

log = logging.getLogger("mailconduit.smtp")

MAX_CHALLENGES = 5
"""More server challenges than this in one AUTH exchange abort it (a hostile or broken server)."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _redacted(text: str, sent: list[str], secret: str) -> str:
    for blob in [*sent, secret]:
        if blob:
            text = text.replace(blob, "***")
    return text


def authenticate(client: SmtpClient, credentials: Credentials) -> str:
    """Log in on ``client`` with ``credentials``; return the mechanism used.

    Passwords use PLAIN (with ``authzid`` for a shared mailbox) or, when only that is offered, LOGIN
    as the user itself. Bearer tokens use XOAUTH2 (else OAUTHBEARER) for ``credentials.mailbox_user``.

    Raises:
        AuthenticationError: the server offers no usable mechanism, or refused the credentials.
        HeaderInjectionError: a user name or secret holds NUL, CR, LF or a separator of the mechanism.
        TransportError: the connection failed during the exchange.
    """
    where = client.where
    offered = client.auth_mechanisms
    mechanism = _sasl.choose_mechanism(credentials.kind, offered)
    if mechanism is None:
        wanted = "PLAIN or LOGIN" if credentials.kind == "password" else "XOAUTH2 or OAUTHBEARER"
        if not offered:
            detail = "offers no AUTH at all" + (
                "" if client.tls_active else " (over an unencrypted connection)"
            )
        else:
            detail = f"offers only {' '.join(offered)}"
        raise AuthenticationError(
            f"{where}: cannot log in with {credentials.kind} credentials: the server {detail}, not {wanted}; "
            "check the account's auth method and tls settings"
        )
    secret = credentials.secret.reveal()
    initial: bytes | None
    answers: list[bytes]
    try:
        if mechanism == "PLAIN":
            initial, answers = sasl_plain(credentials.username, secret, credentials.authzid), []
        elif mechanism == "LOGIN":
            initial, answers = None, list(_sasl.login_responses(credentials.username, secret))
        elif mechanism == "XOAUTH2":
            initial, answers = sasl_xoauth2(credentials.mailbox_user, secret), []
        else:
            initial, answers = sasl_oauthbearer(credentials.mailbox_user, secret), []
    except ValueError as exc:
        raise HeaderInjectionError("credentials", f"{exc}; nothing was sent") from None
    # an error challenge to a token mechanism is answered with an empty response (XOAUTH2) or ^A (RFC 7628)
    after_answers = b"\x01" if mechanism == "OAUTHBEARER" else b""
    sent: list[str] = []
    if initial is None:
        code, message = client.command("AUTH", "AUTH", mechanism)
    else:
        sent.append(_b64(initial))
        code, message = client.command("AUTH", "AUTH", f"{mechanism} {sent[-1]}")
    rounds = 0
    while code == 334:
        rounds += 1
        if rounds > MAX_CHALLENGES:
            client.close()
            raise AuthenticationError(
                f"{where}: the server sent more than {MAX_CHALLENGES} AUTH {mechanism} challenges; aborted"
            )
        sent.append(_b64(answers.pop(0) if answers else after_answers))
        code, message = client.command("AUTH", sent[-1])
    if code != 235:
        reply = _redacted(reply_text(code, message), sent, secret)
        error = AuthenticationError(
            f"{where}: the server refused AUTH {mechanism} for {credentials.username!r}: {reply}; "
            "check the user name and the password or token (and, for a shared mailbox, the delegation)"
        )
        if 400 <= code < 500:
            error.temporary = True
        raise error
    log.debug("%s: logged in as %r with AUTH %s", where, credentials.username, mechanism)
    return mechanism
