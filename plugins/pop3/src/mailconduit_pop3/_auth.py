"""Logging in to a POP3 server: USER/PASS, AUTH PLAIN (shared mailboxes) or the two-step AUTH XOAUTH2.

* ``password`` credentials use USER and PASS, unless an ``authzid`` is set (a shared mailbox, or
  Dovecot's master users) or the name or password holds a space: then ``AUTH PLAIN`` with an
  initial response, when the server offers SASL PLAIN. CR, LF and NUL are refused everywhere
  (RELIABILITY.md G2), with an error naming the argument and never showing its value.
* ``bearer`` credentials use ``AUTH XOAUTH2`` in two steps, as Exchange Online needs: the command,
  the server's ``+``, then the base64 line. A failed token gets a ``+`` with a JSON error from some
  servers; an empty line answers it and the ``-ERR`` follows.

A refusal is an ``AuthenticationError`` quoting the server, or a temporary ``ServerReplyError`` when
the reply carries ``[IN-USE]``, ``[LOGIN-DELAY]`` or ``[SYS/TEMP]``. poplib's debug output, which
would print the AUTH line, is never involved: this client has no trace of what it sends.
"""

from __future__ import annotations

from mailconduit import AuthenticationError, Credentials, HeaderInjectionError, ServerReplyError
from mailconduit_pop3 import _sasl
from mailconduit_pop3._client import Pop3Client
from mailconduit_pop3._commands import command_line, unsafe_characters

__all__ = ["login"]


def _refused(client: Pop3Client, exc: ServerReplyError, user: str, how: str) -> Exception:
    if exc.temporary:
        return exc
    return AuthenticationError(
        f"{client.where}: the server refused the login of {user!r} ({how}): {exc.reply}; "
        "check the account's credentials (and, for a shared mailbox, the access rights)"
    )


def _sasl_offered(client: Pop3Client) -> set[str]:
    caps = client.capabilities or {}
    return set(caps.get("SASL", []))


def login(client: Pop3Client, credentials: Credentials) -> str:
    """Authenticate on ``client`` with ``credentials``; return the method used (``USER``, ``PLAIN`` ...).

    Raises:
        AuthenticationError: the server refused the credentials, or offers no usable method.
        HeaderInjectionError: a CR, LF or NUL (or, without SASL PLAIN, a space) in the name or password.
        ServerReplyError: a temporary refusal (``[IN-USE]`` and the like).
    """
    if credentials.kind == "bearer":
        _xoauth2(client, credentials)
        return "XOAUTH2"
    user, password, authzid = credentials.username, credentials.secret.reveal(), credentials.authzid
    awkward = bool(unsafe_characters(user) or unsafe_characters(password))
    offered = _sasl_offered(client)
    if authzid or (awkward and "PLAIN" in offered):
        if client.capabilities is not None and "PLAIN" not in offered:
            raise AuthenticationError(
                f"{client.where}: opening the shared mailbox {authzid!r} needs SASL PLAIN with an "
                f"authorization identity, and the server offers only {sorted(offered) or 'none'}; "
                "use the server's own syntax for delegated logins as the user name instead"
            )
        _plain(client, user, password, authzid)
        return "PLAIN"
    user_line = command_line("USER", user)  # the errors name the argument, never its value
    pass_line = command_line("PASS", password)
    try:
        client.command("USER", user_line)
        client.command("PASS", pass_line)
    except ServerReplyError as exc:
        raise _refused(client, exc, user, "USER/PASS") from None
    return "USER"


def _plain(client: Pop3Client, user: str, password: str, authzid: str | None) -> None:
    try:
        line = _sasl.plain_command(user, password, authzid)
    except ValueError as exc:
        raise HeaderInjectionError("POP3 AUTH PLAIN argument", f"{exc}; nothing was sent") from None
    try:
        reply = client.command_or_continuation("AUTH PLAIN", line)
        if reply.startswith(b"+ ") or reply == b"+":
            client.command("AUTH PLAIN", b"*\r\n")  # cancel (RFC 5034); the -ERR follows
    except ServerReplyError as exc:
        raise _refused(client, exc, authzid or user, "AUTH PLAIN") from None
    if not reply.startswith(b"+OK"):
        raise AuthenticationError(f"{client.where}: AUTH PLAIN for {user!r} did not complete")


def _xoauth2(client: Pop3Client, credentials: Credentials) -> None:
    user = credentials.mailbox_user
    caps = client.capabilities
    if caps is not None and "XOAUTH2" not in _sasl_offered(client):
        raise AuthenticationError(
            f"{client.where}: the account uses OAuth, but the server does not offer SASL XOAUTH2 "
            f"(it offers {sorted(_sasl_offered(client)) or 'no SASL'}); use a password or another server"
        )
    try:
        line = _sasl.xoauth2_line(user, credentials.secret.reveal())
    except ValueError as exc:
        raise HeaderInjectionError("POP3 AUTH XOAUTH2 argument", f"{exc}; nothing was sent") from None
    try:
        first = client.command_or_continuation("AUTH XOAUTH2", b"AUTH XOAUTH2\r\n")
        if first.startswith(b"+OK"):
            raise AuthenticationError(f"{client.where}: AUTH XOAUTH2 succeeded before any token was sent")
        reply = client.command_or_continuation("AUTH XOAUTH2", line)
        if not reply.startswith(b"+OK"):  # "+ <base64 JSON error>": answer empty, the -ERR follows
            client.command("AUTH XOAUTH2", b"\r\n")
            raise AuthenticationError(f"{client.where}: XOAUTH2 for {user!r} did not complete")
    except ServerReplyError as exc:
        raise _refused(client, exc, user, "XOAUTH2") from None
