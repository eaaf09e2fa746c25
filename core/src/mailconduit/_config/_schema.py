"""The root ``Config`` type and the pipeline settings, as the YAML of DESIGN.md describes them.

Accounts, OAuth providers and the runner reuse the value types of ``mailconduit._model``; only
what exists nowhere else (the pipelines and the root) is defined here. ``Config.database`` may hold
a password (``postgresql://user:pw@host/db``), so its repr hides it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
from attrs import define, field, validators

from mailconduit._model import (
    Account,
    AfterReplication,
    MoveTo,
    OAuthProviderSettings,
    ReceiveSettings,
    RunnerSettings,
)
from mailconduit._secret import REDACTED, Secret

__all__ = ["DEFAULT_DATABASE", "Config", "PipelineSettings", "PipelineStep", "redact_url"]

DEFAULT_DATABASE = "sqlite:///mailconduit.db"

_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@?#]*:)[^@/?#]*@")


def redact_url(url: str) -> str:
    """``postgresql://app:pw@db/mail`` -> ``postgresql://app:***@db/mail``; other URLs unchanged."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}@", url)


def _positive(instance: object, attribute: Any, value: timedelta | None) -> None:
    if value is not None and value <= timedelta(0):
        raise ValueError(f"must be a positive duration, got {value}")


def _some_steps(instance: object, attribute: Any, value: list[PipelineStep]) -> None:
    if not value:
        raise ValueError("must list at least one step, for example [store]")


@define(frozen=True, kw_only=True)
class PipelineStep:
    """One step of a pipeline: a registered action's name and its settings, if it takes any.

    In the YAML a step is a name (``- store``) or a one-key mapping (``- webhook: {url: ...}``).

    Attributes:
        name: the action's registered name.
        settings: an instance of the action's registered settings class, or None.
    """

    name: str
    settings: Any = None


@define(frozen=True, kw_only=True)
class PipelineSettings:
    """A ``pipelines:`` entry: which account's mail it receives and the steps each message goes through.

    The optional keys override the same keys of the account's ``receive:`` section (see
    :meth:`apply_to`); None means "as the account says".

    Attributes:
        receive: the name of the account whose mail this pipeline replicates.
        folder: the folder to replicate instead of the account's.
        subscribe: IMAP IDLE (with polling as fallback) instead of the account's choice.
        poll_every: the polling interval instead of the account's.
        steps: the actions each replicated message runs through, in order.
        after_replication: what happens to a message on the server once stored, instead of the account's.
        on_error: the steps run for a message whose steps failed.
    """

    receive: str = field(validator=validators.min_len(1))
    folder: str | None = field(default=None, validator=validators.optional(validators.min_len(1)))
    subscribe: bool | None = None
    poll_every: timedelta | None = field(default=None, validator=_positive)
    steps: list[PipelineStep] = field(factory=list, validator=_some_steps)
    after_replication: AfterReplication | MoveTo | None = None
    on_error: list[PipelineStep] = field(factory=list)

    def apply_to(self, receive: ReceiveSettings) -> ReceiveSettings:
        """The account's receive settings with this pipeline's overrides applied."""
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("folder", self.folder),
                ("subscribe", self.subscribe),
                ("poll_every", self.poll_every),
                ("after_replication", self.after_replication),
            )
            if value is not None
        }
        return attrs.evolve(receive, **changes) if changes else receive


@define(frozen=True, kw_only=True)
class Config:
    """A whole, validated configuration (``load_config`` builds it; every key has DESIGN.md's default).

    Attributes:
        database: the store's SQLAlchemy URL (``--db`` overrides it); its password is hidden in repr.
        secret_key: the Fernet key(s) for secrets at rest, comma-separated for rotation (newest first).
        plugins: local plugin modules named in the YAML, loaded besides the installed ones.
        oauth_providers: OAuth provider settings by name, each the subclass its ``type:`` picked.
        accounts: accounts by name (``Account.name`` is the key).
        templates: a folder of template files, relative paths taken from the config file's folder.
        pipelines: pipelines by name.
        runner: the long-running service's settings.
        source: the file the configuration was read from, if any.
    """

    database: str = field(default=DEFAULT_DATABASE, repr=redact_url)
    secret_key: Secret | None = None
    plugins: list[str] = field(factory=list)
    oauth_providers: dict[str, OAuthProviderSettings] = field(factory=dict)
    accounts: dict[str, Account] = field(factory=dict)
    templates: Path | None = None
    pipelines: dict[str, PipelineSettings] = field(factory=dict)
    runner: RunnerSettings = field(factory=RunnerSettings)
    source: Path | None = field(default=None, eq=False)

    def account(self, name: str) -> Account:
        """The account ``name``.

        Raises:
            LookupError: no such account; the message lists the configured ones.
        """
        try:
            return self.accounts[name]
        except KeyError:
            known = ", ".join(sorted(self.accounts)) or "none"
            raise LookupError(f"no account {name!r} in the configuration; accounts: {known}") from None
