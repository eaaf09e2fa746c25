"""The thin ldap3 adapter: connect (StartTLS or LDAPS, certificates verified), bind, search, read the rootDSE.

ldap3's default ``Tls()`` verifies nothing; here it is always ``CERT_REQUIRED`` against the system's
CAs plus the account's ``ca_file``, with the host name checked. Errors come out as mailconduit's
``TlsError``, ``AuthenticationError``, ``TransportTimeout`` or ``TransportError``, naming the server
and never the password.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mailconduit import Account, AuthenticationError, TlsError, TlsMode, TransportError, TransportTimeout
from mailconduit_ldap_certs._settings import LdapSettings, SimpleBind, effective_port

if TYPE_CHECKING:
    import ldap3

__all__ = ["connect", "naming_contexts", "search_values"]


def _where(settings: LdapSettings) -> str:
    return f"LDAP server {settings.host}:{effective_port(settings)}"


def _tls_problem(exc: BaseException) -> bool:
    text = f"{exc!r} {getattr(exc, 'args', '')}".lower()
    return any(w in text for w in ("certificate", "hostname", "host name", "ssl", "tls", "match"))


@contextmanager
def connect(settings: LdapSettings, account: Account) -> Iterator[ldap3.Connection]:
    """An open, secured and bound connection for ``account``'s ``ldap:`` section."""
    import ldap3
    from ldap3.core import exceptions as lx

    mode = TlsMode(settings.tls)
    seconds = max(1, math.ceil(settings.timeout.total_seconds()))  # ldap3 packs these as integers
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=account.ca_file,
        version=ssl.PROTOCOL_TLS_CLIENT,
        valid_names=[settings.host],
    )
    server = ldap3.Server(
        settings.host,
        port=effective_port(settings),
        use_ssl=mode is TlsMode.TLS,
        tls=tls,
        connect_timeout=seconds,
        get_info=ldap3.DSA,
    )
    user = password = None
    if isinstance(settings.bind, SimpleBind):
        user, password = settings.bind.user, settings.bind.password.reveal()
    conn = ldap3.Connection(
        server,
        user=user,
        password=password,
        authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
        receive_timeout=seconds,
        raise_exceptions=False,
        read_only=True,
    )
    where = _where(settings)
    try:
        try:
            conn.open()
            if mode is TlsMode.STARTTLS and not conn.start_tls():
                raise TlsError(
                    f"{where}: StartTLS failed ({conn.result.get('description')}); check tls: and the server"
                )
            if not conn.bind():
                raise AuthenticationError(
                    f"{where}: bind as {user or 'anonymous'} refused ({conn.result.get('description')}); "
                    "check ldap.bind"
                )
        except lx.LDAPSocketReceiveError as exc:
            raise TransportTimeout(f"{where}: no answer within {seconds:g} s ({exc})") from None
        except (lx.LDAPSocketOpenError, lx.LDAPStartTLSError, ssl.SSLError) as exc:
            if _tls_problem(exc):
                raise TlsError(
                    f"{where}: the server's certificate was refused ({exc}); "
                    "set the account's ca_file to the CA that issued it, or fix the host name"
                ) from None
            raise TransportError(f"{where}: cannot connect ({exc}); check ldap.host and ldap.port") from None
        except lx.LDAPException as exc:
            raise TransportError(f"{where}: {type(exc).__name__}: {exc}") from None
        yield conn
    finally:
        with contextlib.suppress(Exception):  # closing a broken connection must not hide the real error
            conn.unbind()


def naming_contexts(conn: ldap3.Connection) -> list[str]:
    """The base DNs the server announces in its rootDSE."""
    info: Any = conn.server.info
    return [str(c) for c in (info.naming_contexts or [])] if info is not None else []


def search_values(
    conn: ldap3.Connection, base: str, filter_: str, attributes: Sequence[str], *, where: str
) -> list[dict[str, list[bytes]]]:
    """Run one subtree search; return each entry's raw attribute values (``mail`` included)."""
    import ldap3

    ok = conn.search(base, filter_, ldap3.SUBTREE, attributes=[*attributes, "mail"], size_limit=100)
    if not ok and conn.result.get("result") not in (0, 4, 32):  # success, size limit, no such object
        raise TransportError(f"{where}: search under {base!r} failed ({conn.result.get('description')})")
    entries: list[dict[str, list[bytes]]] = []
    for item in conn.response or []:
        if item.get("type") != "searchResEntry":
            continue
        raw = item.get("raw_attributes") or {}
        entries.append({str(k).lower(): [bytes(v) for v in values] for k, values in raw.items()})
    return entries
