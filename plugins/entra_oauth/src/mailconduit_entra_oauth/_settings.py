"""This plugin's YAML: ``oauth_providers`` entries of ``type: entra``, ``auth: {method: entra_oauth}``.

Example::

    oauth_providers:
      contoso:
        type: entra
        tenant: 8a1f...            # the directory (tenant) id, or contoso.onmicrosoft.com
        client_id: 2f3c...
        client_secret: ${env:ENTRA_SECRET}     # or certificate: {pem: app.pem, key: app.key}
        flow: authorization_code               # | device_code | client_credentials
    accounts:
      support:
        email: support@contoso.com
        auth: {method: entra_oauth, provider: contoso}
"""

from __future__ import annotations

from typing import Literal

from attrs import define, field, validators

from mailconduit import AuthSettings, OAuthProviderSettings, Secret

__all__ = ["DEFAULT_AUTHORITY", "EntraAuth", "EntraCertificate", "EntraProvider", "Flow"]

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
Flow = Literal["authorization_code", "device_code", "client_credentials"]


@define(frozen=True, kw_only=True)
class EntraCertificate:
    """A certificate credential: the app's certificate (PEM file) and its private key (PEM file).

    msal signs a client assertion (a JWT) with the key; Entra checks it against the certificate
    uploaded to the app registration (by its SHA-1 thumbprint).
    """

    pem: str = field(validator=validators.min_len(1))
    key: str = field(validator=validators.min_len(1))
    passphrase: Secret | None = None


@define(frozen=True, kw_only=True)
class EntraProvider(OAuthProviderSettings):
    """An Entra ID app registration (``type: entra``).

    Attributes:
        tenant: the directory (tenant) id or a verified domain; ``organizations`` for multi-tenant apps.
        client_id: the application (client) id.
        client_secret: the client secret (confidential apps); or use ``certificate``.
        certificate: a certificate credential instead of a secret.
        authority: the cloud's login host (sovereign clouds differ).
        flow: ``authorization_code`` (a signed-in user, PKCE), ``device_code`` (headless sign-in),
            ``client_credentials`` (app-only, for service mailboxes).
        redirect_uri: the web app's redirect URI for ``begin_sign_in`` (the CLI uses a loopback one).
        ca_file: trust only this CA file for the authority (a private proxy or tests); default:
            the system's trust store through requests.
        timeout: seconds for each HTTPS request to the authority.
    """

    type: str = "entra"
    tenant: str = field(validator=validators.min_len(1))
    client_id: str = field(validator=validators.min_len(1))
    client_secret: Secret | None = None
    certificate: EntraCertificate | None = None
    authority: str = DEFAULT_AUTHORITY
    flow: Flow = "authorization_code"
    redirect_uri: str | None = None
    ca_file: str | None = None
    timeout: float = field(default=20.0, validator=validators.gt(0))

    def __attrs_post_init__(self) -> None:
        """Check the credential fits the flow."""
        if self.client_secret is not None and self.certificate is not None:
            raise ValueError("set client_secret or certificate, not both")
        if self.flow == "client_credentials" and self.client_secret is None and self.certificate is None:
            raise ValueError("flow client_credentials needs client_secret or certificate")
        if not self.authority.startswith("https://"):
            raise ValueError(f"authority must be an https:// URL, got {self.authority!r}")

    @property
    def authority_url(self) -> str:
        """``{authority}/{tenant}``, what msal is given."""
        return f"{self.authority.rstrip('/')}/{self.tenant}"

    @property
    def confidential(self) -> bool:
        """True when the app authenticates itself (a secret or a certificate)."""
        return self.client_secret is not None or self.certificate is not None


@define(frozen=True, kw_only=True)
class EntraAuth(AuthSettings):
    """``auth: {method: entra_oauth, provider: NAME, username: ...}``.

    Attributes:
        provider: the ``oauth_providers`` entry to use.
        username: delegated flows: the user expected to sign in (default: the account's email);
            client credentials: the mailbox the app opens (default: the account's mailbox).
    """

    method: str = "entra_oauth"
    provider: str = field(validator=validators.min_len(1))
    username: str | None = None
