"""Hook implementations of the ``entra_oauth`` plugin: the provider type, the authenticator, the commands."""

from __future__ import annotations

from mailconduit import RegisterAuthenticator, RegisterCommand, RegisterSection, hookimpl
from mailconduit_entra_oauth._authenticator import EntraAuthenticator
from mailconduit_entra_oauth._settings import EntraAuth, EntraProvider


@hookimpl
def register_config_sections(register: RegisterSection) -> None:
    """``oauth_providers: {NAME: {type: entra, ...}}``."""
    register("entra", EntraProvider, scope="oauth_provider")


@hookimpl
def register_authenticators(register: RegisterAuthenticator) -> None:
    """``auth: {method: entra_oauth, provider: NAME}``."""
    register("entra_oauth", EntraAuthenticator, settings=EntraAuth)


@hookimpl
def register_commands(register: RegisterCommand) -> None:
    """``mailconduit auth login|status|diagnose``."""
    register("auth", "mailconduit_entra_oauth._cli:auth", help="Entra ID OAuth: sign in, status, diagnose.")
