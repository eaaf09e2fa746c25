"""Building msal applications for a provider, with an HTTPS client that verifies and remembers throttling.

The HTTP client is a ``requests.Session``: with the provider's ``ca_file`` it trusts only that CA
and ignores ``REQUESTS_CA_BUNDLE`` (``trust_env=False``, which would otherwise override
``verify=``); without it, the system's trust store. Certificates and host names are always
verified (RELIABILITY.md H1). The wrapper records the last HTTP status and ``Retry-After`` per
thread, so a 429/503 becomes a backoff. msal is imported here only, on first use.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from mailconduit import ConfigError
from mailconduit_entra_oauth._settings import EntraProvider

__all__ = ["HttpClient", "build_app", "client_credential", "quiet_msal_debug"]


def quiet_msal_debug() -> None:
    """Keep msal's DEBUG records out of the logs: they carry authorization and device codes.

    msal masks tokens in its cache events but not the ``code`` / ``device_code`` of a grant
    (found by the K1 canary sweep). Its loggers go to INFO unless someone set a level on ``msal``.
    """
    msal_log = logging.getLogger("msal")
    if msal_log.level == logging.NOTSET:
        msal_log.setLevel(logging.INFO)


class HttpClient:
    """The ``http_client`` given to msal: ``requests`` plus the last status and Retry-After, per thread."""

    def __init__(self, provider: EntraProvider) -> None:
        """A session verifying the authority's certificate (``ca_file`` alone when set)."""
        import requests

        self._session = requests.Session()
        if provider.ca_file:
            self._session.verify = provider.ca_file
            self._session.trust_env = False
        self._timeout = provider.timeout
        self._last = threading.local()

    def _keep(self, response: Any) -> Any:
        self._last.status = response.status_code
        self._last.retry_after = response.headers.get("Retry-After")
        return response

    def post(self, url: str, **kwargs: Any) -> Any:
        """POST (msal's token and device-code requests)."""
        kwargs.setdefault("timeout", self._timeout)
        return self._keep(self._session.post(url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> Any:
        """GET (msal's discovery request)."""
        kwargs.setdefault("timeout", self._timeout)
        return self._keep(self._session.get(url, **kwargs))

    def close(self) -> None:
        """Close the session."""
        self._session.close()

    def last_retry_after(self) -> float | None:
        """Seconds the authority asked to wait in this thread's last response (None if it did not)."""
        value = getattr(self._last, "retry_after", None)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def last_status(self) -> int | None:
        """This thread's last HTTP status."""
        status: int | None = getattr(self._last, "status", None)
        return status


def client_credential(provider: EntraProvider, where: str) -> str | dict[str, str] | None:
    """Msal's ``client_credential``: the secret, a certificate dict, or None (a public client).

    Raises:
        ConfigError: the certificate or key file cannot be read or parsed.
    """
    if provider.client_secret is not None:
        return provider.client_secret.reveal()
    if provider.certificate is None:
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = provider.certificate
    try:
        pem = Path(cert.pem).read_bytes()
        key = Path(cert.key).read_text(encoding="ascii")
        thumbprint = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA1()).hex()  # noqa: S303 -- Entra's x5t
    except (OSError, ValueError) as exc:
        problem = f"cannot read the certificate {cert.pem} or key {cert.key}: {type(exc).__name__}"
        raise ConfigError(
            [(f"{where}.certificate", problem + "; give PEM files readable by this user")]
        ) from None
    credential = {"private_key": key, "thumbprint": thumbprint, "public_certificate": pem.decode("ascii")}
    if cert.passphrase is not None:
        credential["passphrase"] = cert.passphrase.reveal()
    return credential


def build_app(provider: EntraProvider, where: str, http: HttpClient, cache: Any = None) -> Any:
    """A msal ``ConfidentialClientApplication`` (secret or certificate) or ``PublicClientApplication``.

    Args:
        provider: the provider settings.
        where: the config path of the provider, for errors.
        http: the HTTP client.
        cache: a ``msal.SerializableTokenCache`` (None: msal's in-memory cache).
    """
    import msal  # type: ignore[import-untyped]

    quiet_msal_debug()
    # device code is a public-client flow: its refresh tokens belong to the public client
    credential = None if provider.flow == "device_code" else client_credential(provider, where)
    options: dict[str, Any] = {
        "authority": provider.authority_url,
        "http_client": http,
        "token_cache": cache,
        # only for login.microsoftonline.com does msal's instance discovery make sense
        "instance_discovery": provider.authority.rstrip("/") == "https://login.microsoftonline.com",
    }
    if credential is None:
        return msal.PublicClientApplication(provider.client_id, **options)
    return msal.ConfidentialClientApplication(provider.client_id, client_credential=credential, **options)
