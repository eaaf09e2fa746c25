"""The built-in table of common mail providers, found by address domain or by the domain's MX hosts.

Hosts, ports and TLS modes are the providers' documented client settings; ``quirks`` are what a
user must know before the first login (app passwords, OAuth, labels as folders, sending limits).
"""

from __future__ import annotations

from collections.abc import Iterable

from mailconduit._autoconfig._types import AuthKind, Provider, Server
from mailconduit._model import TlsMode

__all__ = ["PROVIDERS", "by_domain", "by_mx"]

TLS, STARTTLS = TlsMode.TLS, TlsMode.STARTTLS


def _s(protocol: str, host: str, port: int, tls: TlsMode) -> Server:
    return Server(protocol=protocol, host=host, port=port, tls=tls)


_MICROSOFT_OAUTH = (
    "log in with OAuth 2.0 through the entra_oauth plugin (pip install mailconduit-entra-oauth): "
    "replace client_id with your Entra app registration's, then run `mailconduit auth login ACCOUNT`"
)

PROVIDERS: tuple[Provider, ...] = (
    Provider(
        key="gmail",
        name="Gmail / Google Workspace",
        domains=("gmail.com", "googlemail.com"),
        mx_suffixes=("google.com", "googlemail.com"),
        receive=(_s("imap", "imap.gmail.com", 993, TLS), _s("pop3", "pop.gmail.com", 995, TLS)),
        send=(_s("smtp", "smtp.gmail.com", 465, TLS), _s("smtp", "smtp.gmail.com", 587, STARTTLS)),
        auth=AuthKind.APP_PASSWORD,
        quirks=(
            "Google refuses the account password here: make an app password (Google Account > Security > "
            "2-Step Verification > App passwords; needs 2-Step Verification). Google's own OAuth 2.0 "
            "(XOAUTH2) would also work, but mailconduit has no Google OAuth plugin.",
            "Google Workspace admins can turn off IMAP, POP and app passwords for the whole domain.",
            "Gmail shows labels as IMAP folders: a message with two labels is in two folders, and "
            "[Gmail]/All Mail holds every message. Replicate INBOX or [Gmail]/All Mail, not every folder, "
            "or the same message is stored once per label.",
            "Deleting from a label folder only removes that label; to really delete, move to "
            "[Gmail]/Trash (after_replication: {move_to: '[Gmail]/Trash'}).",
            "Sending limit: about 500 recipients a day for gmail.com, 2,000 for Google Workspace.",
            "POP3 must be enabled first (Gmail settings > Forwarding and POP/IMAP).",
        ),
    ),
    Provider(
        key="outlook_com",
        name="Outlook.com / Hotmail",
        domains=(
            "outlook.com",
            "hotmail.com",
            "live.com",
            "msn.com",
            "hotmail.co.uk",
            "hotmail.fr",
            "hotmail.de",
            "hotmail.it",
            "hotmail.es",
            "live.co.uk",
            "live.fr",
            "live.de",
            "outlook.de",
            "outlook.fr",
            "outlook.es",
            "outlook.it",
        ),
        receive=(
            _s("imap", "outlook.office365.com", 993, TLS),
            _s("pop3", "outlook.office365.com", 995, TLS),
        ),
        send=(_s("smtp", "smtp-mail.outlook.com", 587, STARTTLS),),
        auth=AuthKind.ENTRA_OAUTH,
        entra_tenant="consumers",
        quirks=(
            "Outlook.com stopped taking passwords for IMAP, POP and SMTP in September 2024: "
            + _MICROSOFT_OAUTH
            + " (the app registration must allow personal Microsoft accounts; tenant: consumers).",
            "POP3 must be enabled first (Outlook.com settings > Mail > Forwarding and IMAP).",
        ),
    ),
    Provider(
        key="exchange_online",
        name="Exchange Online / Microsoft 365",
        domains=(".onmicrosoft.com",),
        mx_suffixes=("mail.protection.outlook.com",),
        receive=(
            _s("imap", "outlook.office365.com", 993, TLS),
            _s("pop3", "outlook.office365.com", 995, TLS),
        ),
        send=(_s("smtp", "smtp.office365.com", 587, STARTTLS),),
        auth=AuthKind.ENTRA_OAUTH,
        rate_limit="30/min",
        quirks=(
            "Exchange Online takes no passwords for IMAP and POP, and is retiring them for SMTP: "
            + _MICROSOFT_OAUTH
            + "; see the entra_oauth plugin's README for the app registration.",
            "Sending limits per mailbox: 30 messages a minute, 10,000 recipients a day, 500 recipients "
            "a message; rate_limit: 30/min keeps the outbox inside the first.",
            "IMAP, POP and authenticated SMTP must be enabled for the mailbox (Set-CASMailbox ... "
            "-SmtpClientAuthenticationDisabled $false), else 535 5.7.3 or AUTHENTICATE failed.",
        ),
    ),
    Provider(
        key="yahoo",
        name="Yahoo Mail",
        domains=(
            "yahoo.com",
            "ymail.com",
            "rocketmail.com",
            "yahoo.co.uk",
            "yahoo.fr",
            "yahoo.de",
            "yahoo.it",
            "yahoo.es",
            "yahoo.ca",
            "yahoo.com.au",
            "yahoo.co.in",
        ),
        receive=(_s("imap", "imap.mail.yahoo.com", 993, TLS), _s("pop3", "pop.mail.yahoo.com", 995, TLS)),
        send=(_s("smtp", "smtp.mail.yahoo.com", 465, TLS), _s("smtp", "smtp.mail.yahoo.com", 587, STARTTLS)),
        auth=AuthKind.APP_PASSWORD,
        quirks=(
            "Yahoo refuses the account password here: make an app password (Account Info > Account "
            "security > Generate app password).",
        ),
    ),
    Provider(
        key="icloud",
        name="iCloud Mail",
        domains=("icloud.com", "me.com", "mac.com"),
        mx_suffixes=("mail.icloud.com",),
        receive=(_s("imap", "imap.mail.me.com", 993, TLS),),
        send=(_s("smtp", "smtp.mail.me.com", 587, STARTTLS),),
        auth=AuthKind.APP_PASSWORD,
        quirks=(
            "iCloud needs an app-specific password (account.apple.com > Sign-In and Security > "
            "App-Specific Passwords; needs two-factor authentication).",
            "iCloud offers IMAP only, no POP3. If the IMAP login with the full address fails, try the "
            "name part alone as the receive username (Apple documents both).",
        ),
    ),
    Provider(
        key="fastmail",
        name="Fastmail",
        domains=("fastmail.com", "fastmail.fm"),
        mx_suffixes=("messagingengine.com",),
        receive=(_s("imap", "imap.fastmail.com", 993, TLS), _s("pop3", "pop.fastmail.com", 995, TLS)),
        send=(_s("smtp", "smtp.fastmail.com", 465, TLS), _s("smtp", "smtp.fastmail.com", 587, STARTTLS)),
        auth=AuthKind.APP_PASSWORD,
        quirks=(
            "Fastmail needs an app password with IMAP/POP/SMTP access (Settings > Privacy & Security > "
            "Manage app passwords and access).",
        ),
    ),
    Provider(
        key="gmx_net",
        name="GMX (gmx.net / gmx.de)",
        domains=("gmx.net", "gmx.de", "gmx.at", "gmx.ch"),
        receive=(_s("imap", "imap.gmx.net", 993, TLS), _s("pop3", "pop.gmx.net", 995, TLS)),
        send=(_s("smtp", "mail.gmx.net", 587, STARTTLS), _s("smtp", "mail.gmx.net", 465, TLS)),
        auth=AuthKind.PASSWORD,
        quirks=(
            "GMX keeps IMAP and POP3 off until you allow them (Settings > POP3 & IMAP); with two-factor "
            "authentication on, use an app password.",
        ),
    ),
    Provider(
        key="gmx_com",
        name="GMX (gmx.com)",
        domains=("gmx.com", "gmx.us", "gmx.co.uk", "gmx.fr"),
        receive=(_s("imap", "imap.gmx.com", 993, TLS), _s("pop3", "pop.gmx.com", 995, TLS)),
        send=(_s("smtp", "mail.gmx.com", 587, STARTTLS), _s("smtp", "mail.gmx.com", 465, TLS)),
        auth=AuthKind.PASSWORD,
        quirks=(
            "GMX keeps IMAP and POP3 off until you allow them (Settings > POP3 & IMAP); with two-factor "
            "authentication on, use an app password.",
        ),
    ),
    Provider(
        key="aol",
        name="AOL Mail",
        domains=("aol.com", "aim.com"),
        receive=(_s("imap", "imap.aol.com", 993, TLS), _s("pop3", "pop.aol.com", 995, TLS)),
        send=(_s("smtp", "smtp.aol.com", 465, TLS), _s("smtp", "smtp.aol.com", 587, STARTTLS)),
        auth=AuthKind.APP_PASSWORD,
        quirks=(
            "AOL refuses the account password here: make an app password (Account Security > Generate "
            "app password).",
        ),
    ),
    Provider(
        key="zoho",
        name="Zoho Mail (personal)",
        domains=("zoho.com", "zohomail.com"),
        receive=(_s("imap", "imap.zoho.com", 993, TLS), _s("pop3", "pop.zoho.com", 995, TLS)),
        send=(_s("smtp", "smtp.zoho.com", 465, TLS), _s("smtp", "smtp.zoho.com", 587, STARTTLS)),
        auth=AuthKind.PASSWORD,
        quirks=(
            "Zoho keeps IMAP and POP off until you enable them (Mail settings > Mail accounts); with "
            "two-factor authentication on, use an application-specific password.",
            "Zoho's data centre is part of the host name (zoho.com, zoho.eu, zoho.in, zoho.com.au): use "
            "the one your account lives in.",
        ),
    ),
    Provider(
        key="zoho_org",
        name="Zoho Mail (your own domain)",
        mx_suffixes=("zoho.com",),
        receive=(_s("imap", "imappro.zoho.com", 993, TLS), _s("pop3", "poppro.zoho.com", 995, TLS)),
        send=(_s("smtp", "smtppro.zoho.com", 465, TLS), _s("smtp", "smtppro.zoho.com", 587, STARTTLS)),
        auth=AuthKind.PASSWORD,
        quirks=(
            "Zoho keeps IMAP and POP off until you enable them (Mail settings > Mail accounts); with "
            "two-factor authentication on, use an application-specific password.",
        ),
    ),
    Provider(
        key="zoho_org_eu",
        name="Zoho Mail EU (your own domain)",
        mx_suffixes=("zoho.eu",),
        receive=(_s("imap", "imappro.zoho.eu", 993, TLS), _s("pop3", "poppro.zoho.eu", 995, TLS)),
        send=(_s("smtp", "smtppro.zoho.eu", 465, TLS), _s("smtp", "smtppro.zoho.eu", 587, STARTTLS)),
        auth=AuthKind.PASSWORD,
        quirks=(
            "Zoho keeps IMAP and POP off until you enable them (Mail settings > Mail accounts); with "
            "two-factor authentication on, use an application-specific password.",
        ),
    ),
    Provider(
        key="mailbox_org",
        name="mailbox.org",
        domains=("mailbox.org",),
        mx_suffixes=("mailbox.org",),
        receive=(_s("imap", "imap.mailbox.org", 993, TLS), _s("pop3", "pop3.mailbox.org", 995, TLS)),
        send=(_s("smtp", "smtp.mailbox.org", 465, TLS), _s("smtp", "smtp.mailbox.org", 587, STARTTLS)),
        auth=AuthKind.PASSWORD,
        quirks=(
            "With two-factor authentication on, mail clients need an application password from "
            "mailbox.org's security settings.",
        ),
    ),
    Provider(
        key="proton_bridge",
        name="Proton Mail (through Proton Mail Bridge on this machine)",
        domains=("proton.me", "protonmail.com", "protonmail.ch", "pm.me"),
        mx_suffixes=("protonmail.ch",),
        receive=(_s("imap", "127.0.0.1", 1143, STARTTLS),),
        send=(_s("smtp", "127.0.0.1", 1025, STARTTLS),),
        auth=AuthKind.BRIDGE_PASSWORD,
        ca_file_hint="proton-bridge-cert.pem",
        quirks=(
            "Proton Mail has no IMAP or SMTP of its own: run Proton Mail Bridge (paid plans) on this "
            "machine. It listens on 127.0.0.1 (IMAP 1143, SMTP 1025 by default, STARTTLS) and shows the "
            "username and a Bridge password to use instead of the account password.",
            "Bridge presents its own certificate: export it (Bridge > Settings > Advanced settings > "
            "Export TLS certificates) and point ca_file at it.",
        ),
    ),
)
"""Every built-in provider; the first whose domain or MX suffix matches wins."""


def by_domain(domain: str) -> Provider | None:
    """The provider an address domain belongs to (``.suffix`` entries match subdomains), or None."""
    domain = domain.lower().removesuffix(".")
    for provider in PROVIDERS:
        for known in provider.domains:
            if domain == known or (known.startswith(".") and domain.endswith(known)):
                return provider
    return None


def by_mx(mx_hosts: Iterable[str]) -> tuple[Provider, str] | None:
    """The provider that runs the first of ``mx_hosts`` (most preferred first) it recognises.

    Returns the provider and the MX host that gave it away, or None.
    """
    for host in mx_hosts:
        name = host.lower().removesuffix(".")
        for provider in PROVIDERS:
            if any(name == s or name.endswith("." + s) for s in provider.mx_suffixes):
                return provider, name
    return None
