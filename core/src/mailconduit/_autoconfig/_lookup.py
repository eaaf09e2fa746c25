"""The network side of account set-up help: autoconfig over HTTPS (httpx), SRV and MX over DNS (dnspython).

Every lookup runs at once in a small thread pool, each bounded by one timeout, so the whole takes
about one timeout at worst. A failure (no answer, refused, timeout, bad certificate, not XML) is a
note in the :class:`~mailconduit._autoconfig._propose.Findings`, never an exception. With
``dns_server`` set, the HTTPS host names are resolved through that server too (the connection goes
to the address it gives, with the name kept for SNI, the Host header and certificate checks).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from attrs import define

from mailconduit._autoconfig._propose import Findings
from mailconduit._autoconfig._srv import SERVICES, SrvRecord, choose_srv
from mailconduit._autoconfig._xml import MAX_DOCUMENT, parse_autoconfig

if TYPE_CHECKING:
    import dns.resolver
    import httpx

__all__ = ["LookupOptions", "autoconfig_urls", "look_up", "parse_dns_server"]

MAX_REDIRECTS = 3


@define(frozen=True, kw_only=True)
class LookupOptions:
    """How to look things up.

    Attributes:
        timeout: seconds for each HTTP request and each DNS query.
        dns_server: (address, port) of the DNS server to ask; None for the system's.
        ca_file: trust anchors (PEM) added for the HTTPS fetches.
        extra_urls: autoconfig URLs to try before the domain's own.
        use_domain_urls: also try ``autoconfig.<domain>`` and ``<domain>/.well-known``.
    """

    timeout: float = 4.0
    dns_server: tuple[str, int] | None = None
    ca_file: str | None = None
    extra_urls: tuple[str, ...] = ()
    use_domain_urls: bool = True


def parse_dns_server(text: str) -> tuple[str, int]:
    """``127.0.0.1``, ``127.0.0.1:5353``, ``::1`` or ``[::1]:5353`` -> (address, port).

    Raises:
        ValueError: not an IP address with an optional port.
    """
    host, port = text.strip(), 53
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = int(port_text)
    ipaddress.ip_address(host)  # raises ValueError for a name
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be 1..65535, got {port}")
    return host, port


def autoconfig_urls(address: str) -> list[str]:
    """The two places a domain publishes its autoconfig (Thunderbird's order)."""
    domain = address.rpartition("@")[2]
    return [
        f"https://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={quote(address, safe='@')}",
        f"https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml",
    ]


def _resolver(options: LookupOptions) -> dns.resolver.Resolver:
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=options.dns_server is None)
    if options.dns_server is not None:
        resolver.nameservers = [options.dns_server[0]]
        resolver.port = options.dns_server[1]
    resolver.timeout = resolver.lifetime = options.timeout
    return resolver


def _dns_failure(exc: BaseException) -> str | None:
    """None for "no such record" (not a failure); otherwise a short description."""
    import dns.exception
    import dns.resolver

    if isinstance(exc, dns.resolver.NXDOMAIN | dns.resolver.NoAnswer):
        return None
    if isinstance(exc, dns.exception.Timeout):
        return "no answer in time"
    if isinstance(exc, dns.resolver.NoNameservers):
        return "every DNS server failed to answer"
    if isinstance(exc, dns.resolver.NoResolverConfiguration):
        return "no DNS resolver is configured on this machine"
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def _srv(options: LookupOptions, name: str) -> list[SrvRecord]:
    answer = _resolver(options).resolve(name, "SRV")
    return [SrvRecord(r.priority, r.weight, r.port, r.target.to_text()) for r in answer]


def _mx(options: LookupOptions, domain: str) -> list[str]:
    answer = _resolver(options).resolve(domain, "MX")
    return [r.exchange.to_text().lower() for r in sorted(answer, key=lambda r: r.preference)]


def _address_of(options: LookupOptions, host: str) -> str:
    import dns.resolver

    resolver = _resolver(options)
    try:
        return str(resolver.resolve(host, "A")[0])
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return str(resolver.resolve(host, "AAAA")[0])


def _is_local_or_literal(host: str) -> bool:
    """An IP address, or ``localhost``, which RFC 6761 keeps out of DNS: left to the system."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _request(client: httpx.Client, options: LookupOptions, url: str) -> httpx.Request:
    import httpx

    parsed = httpx.URL(url)
    if options.dns_server is None or _is_local_or_literal(parsed.host):
        return client.build_request("GET", parsed)
    host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    return client.build_request(
        "GET",
        parsed.copy_with(host=_address_of(options, parsed.host)),
        headers={"Host": host_header},
        extensions={"sni_hostname": parsed.host},
    )


def _fetch(client: httpx.Client, options: LookupOptions, url: str) -> bytes:
    """GET ``url`` (HTTPS only, a few redirects); the body, at most :data:`MAX_DOCUMENT` bytes."""
    import httpx

    deadline = time.monotonic() + 2 * options.timeout  # httpx's timeouts are per phase and per read
    for _hop in range(MAX_REDIRECTS + 1):
        if not url.startswith("https://"):
            raise ValueError(f"refusing a non-HTTPS URL: {url[:100]}")
        response = client.send(_request(client, options, url), stream=True)
        try:
            if response.is_redirect:  # joined to the URL asked for, whose host is a name
                url = str(httpx.URL(url).join(response.headers["location"]))
                continue
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT:
                    raise ValueError(f"larger than {MAX_DOCUMENT // 1024} KiB")
                if time.monotonic() > deadline:
                    raise ValueError(f"not received within {2 * options.timeout:g} s")
            return body
        finally:
            response.close()
    raise ValueError(f"more than {MAX_REDIRECTS} redirects")


def _http_failure(exc: BaseException) -> str:
    import dns.exception
    import httpx

    if isinstance(exc, dns.exception.DNSException):
        return f"cannot resolve the host: {_dns_failure(exc) or 'no such host'}"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return f"TLS certificate not trusted ({text[:160]})"
        return f"cannot connect ({text[:160]})"
    if isinstance(exc, ValueError):
        return str(exc)[:160]
    return f"{type(exc).__name__}: {str(exc)[:160]}"


def look_up(address: str, options: LookupOptions) -> Findings:
    """Fetch the autoconfig documents and query SRV and MX for ``address``'s domain, all at once."""
    import httpx

    from mailconduit._tls import client_tls_context

    domain = address.rpartition("@")[2]
    urls = list(options.extra_urls) + (autoconfig_urls(address) if options.use_domain_urls else [])
    context = client_tls_context(host=domain, ca_file=options.ca_file)
    findings = Findings()
    srv_answers: dict[str, list[SrvRecord]] = {}
    with (
        httpx.Client(
            verify=context,
            timeout=httpx.Timeout(options.timeout),
            follow_redirects=False,
            trust_env=options.dns_server is None,
            headers={"User-Agent": "mailconduit-autoconfig"},
        ) as client,
        ThreadPoolExecutor(max_workers=len(urls) + len(SERVICES) + 1) as pool,
    ):
        tasks: list[tuple[str, str, Any]] = [
            ("url", url, pool.submit(_fetch, client, options, url)) for url in urls
        ]
        tasks += [
            ("srv", name, pool.submit(_srv, options, name))
            for name in (f"{label}.{domain}" for label in SERVICES)
        ]
        tasks.append(("mx", domain, pool.submit(_mx, options, domain)))
        for kind, what, future in tasks:
            describe: Callable[[BaseException], str | None] = _http_failure if kind == "url" else _dns_failure
            try:
                result = future.result()
            except Exception as exc:
                failure = describe(exc)
                if failure is not None:
                    label = f"autoconfig {what}" if kind == "url" else f"DNS {kind.upper()} {what}"
                    findings.notes.append(f"{label}: {failure}")
                continue
            if kind == "url":
                document = parse_autoconfig(result, address)
                findings.autoconfig.append((what, document))
                findings.notes.extend(f"autoconfig {what}: {note}" for note in document.notes)
            elif kind == "srv":
                srv_answers[what.removesuffix(f".{domain}")] = result
                if result:
                    findings.srv_names.append(what)
            else:
                findings.mx_hosts = result
    receive, send, notes = choose_srv(srv_answers)
    findings.srv_receive, findings.srv_send = receive, send
    findings.notes.extend(f"DNS SRV {note}" for note in notes)
    return findings
