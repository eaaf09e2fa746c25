"""The eleven hook specifications of mailconduit, in three families.

* **Providers** (``register_*``): called once per plugin load with a typed ``register`` callable;
  they may not do I/O and return nothing. Duplicate names are an error naming both plugins.
* **Contributions** (``message_transforms``, ``recipient_certificates``): every implementation is
  called with the same arguments and returns objects; the core composes them in an order it defines.
  No hook ever receives another plugin's result.
* **Lifecycle** (``after_<noun>_<past participle>``, ``on_<noun>_error``): called by the core at
  fixed moments of a replication run; they must not raise.

pluggy calls implementations newest-registered first; nothing in mailconduit depends on that order.
Write implementations with ``mailconduit.hookimpl``::

    from mailconduit import hookimpl

    @hookimpl
    def register_actions(register):
        register("file_invoices", FileInvoices, settings=FileInvoicesSettings)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # the specs pull nothing in at run time
    from mailconduit._message import Address
    from mailconduit._model import Account
    from mailconduit._protocols import Transform
    from mailconduit._registering import (
        RegisterAction,
        RegisterAuthenticator,
        RegisterCommand,
        RegisterSection,
        RegisterTemplateEngine,
        RegisterTransport,
    )
    from mailconduit._types import Certificate, RunInfo, RunResult, StoredBatch

__all__ = [
    "PROJECT_NAME",
    "after_batch_stored",
    "after_run_completed",
    "hookimpl",
    "hookspec",
    "message_transforms",
    "on_run_error",
    "recipient_certificates",
    "register_actions",
    "register_authenticators",
    "register_commands",
    "register_config_sections",
    "register_template_engines",
    "register_transports",
]

PROJECT_NAME = "mailconduit"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a hook specification (core use only)."""
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a hook implementation in a plugin module: ``@hookimpl def register_actions(register): ...``."""


# --------------------------------------------------------------------------- providers


@hookspec
def register_transports(register: RegisterTransport) -> None:
    """Provide send and receive transports by protocol name.

    Called once each time plugins are loaded, before the configuration is read. No I/O. The return
    value is ignored.

    Args:
        register: ``register(name, factory, *, settings)``. ``name`` is the ``protocol:`` value of an
            account's ``send:`` or ``receive:`` section; ``factory()`` builds the transport;
            ``settings`` is a ``SendSettings`` or ``ReceiveSettings`` subclass holding the section's
            keys, and decides the direction.

    Example:
        ``register("smtp", SmtpTransport, settings=SmtpSettings)``
    """


@hookspec
def register_authenticators(register: RegisterAuthenticator) -> None:
    """Provide authentication methods: the names used as ``auth.method`` in the YAML.

    Called once per plugin load, before the configuration is read. No I/O. An authenticator turns an
    account into ``Credentials`` for a protocol.

    Args:
        register: ``register(name, factory, *, settings)``; ``settings`` is an ``AuthSettings``
            subclass with the keys of the account's ``auth:`` mapping.

    Example:
        ``register("password", PasswordAuthenticator, settings=PasswordAuth)``
    """


@hookspec
def register_config_sections(register: RegisterSection) -> None:
    """Provide attrs classes for the YAML sections this plugin owns.

    Called once per plugin load, before the configuration is read. No I/O. A key under an account
    that no plugin registered is a config error that names the distribution to install.

    Args:
        register: ``register(name, settings, *, scope="account")``: a per-account section such as
            ``smime`` or ``ldap``; with ``scope="oauth_provider"``, a variant of ``oauth_providers``
            entries selected by ``type: name``.

    Example:
        ``register("smime", SmimeSettings)``; ``register("entra", EntraProvider, scope="oauth_provider")``
    """


@hookspec
def register_actions(register: RegisterAction) -> None:
    """Provide pipeline steps (post-fetch actions) by name: ``store``, ``webhook``, ``reply`` ...

    Called once per plugin load. No I/O. The YAML orders the steps; per-message work is an action,
    never a hook.

    Args:
        register: ``register(name, factory, *, settings=None)``; ``factory(settings)`` (or
            ``factory()`` without settings) builds the ``Action``.

    Example:
        ``register("webhook", Webhook, settings=WebhookSettings)``
    """


@hookspec
def register_template_engines(register: RegisterTemplateEngine) -> None:
    """Provide template engines by name; the sandboxed ``jinja2`` engine is a core built-in.

    Called once per plugin load. No I/O.

    Args:
        register: ``register(name, factory)``; ``factory()`` builds a ``TemplateEngine``.

    Example:
        ``register("mustache", MustacheEngine)``
    """


@hookspec
def register_commands(register: RegisterCommand) -> None:
    """Provide CLI subcommands by name and import path, imported only when invoked.

    Called once per plugin load when the CLI starts. No I/O, and no heavy imports: the target module
    is imported only when its subcommand runs.

    Args:
        register: ``register(name, "module:attribute", *, help="one line")``; the attribute is a
            click command or group.

    Example:
        ``register("auth", "mailconduit_entra_oauth.cli:auth", help="Sign in and check OAuth tokens.")``
    """


# --------------------------------------------------------------------------- contributions


@hookspec
def message_transforms(account: Account) -> Iterable[Transform] | None:
    """Contribute transforms for this account's mail (sign, encrypt, decrypt, verify).

    Called whenever the core prepares to send or process mail for ``account``; may read files (keys,
    certificates) but should cache them. Return None or an empty iterable when nothing applies.
    The core collects every plugin's transforms, keeps those of the direction at hand, sorts them by
    ``stage`` (outgoing SIGN before ENCRYPT, incoming DECRYPT before VERIFY) and applies them in turn.

    Args:
        account: the account whose mail is being transformed.
    """


@hookspec
def recipient_certificates(
    addresses: Sequence[Address], account: Account
) -> Mapping[Address, Sequence[Certificate]] | None:
    """Contribute the certificates this source knows for these recipients (LDAP, files, received mail).

    Called before an encrypted send; may do I/O (an LDAP search) within the account's timeout.
    Return None when this source has nothing. Every source answers; the core merges the answers per
    address and picks a usable certificate (valid now, right key usage, naming the address), so no
    source hides another.

    Args:
        addresses: the recipients that need a certificate.
        account: the sending account (its ``ldap`` section, certificate folders ...).
    """


# --------------------------------------------------------------------------- lifecycle


@hookspec
def after_batch_stored(batch: StoredBatch, run: RunInfo) -> None:
    """Called after a batch's results and pending server changes are committed.

    Runs once per batch, before the after-replication action is applied to the accepted messages
    (the "on e-mail fetched" moment). May do I/O; must not raise (errors are logged and ignored).

    Args:
        batch: the messages of the batch, which were accepted and which rejected.
        run: the run this batch belongs to.
    """


@hookspec
def after_run_completed(result: RunResult, run: RunInfo) -> None:
    """Called once per finished replication run with its counts, timing and mode (IDLE or polling).

    May do I/O; must not raise.

    Args:
        result: what the run did.
        run: which run it was.
    """


@hookspec
def on_run_error(error: BaseException, run: RunInfo) -> None:
    """Called when a replication run fails; what it stored before the failure is kept.

    Also called by the runner's watchdog when a pipeline has not completed a run in time. Must not
    raise.

    Args:
        error: the exception that ended the run.
        run: which run failed.
    """
