"""``load_config``: YAML (text, file or mapping) -> a validated ``Config``, or every problem at once.

Each top-level key is structured on its own, so a mistake in one section never hides those in
another; cross-references (a pipeline's account, an auth section's OAuth provider) are checked
against the names the YAML defines even where those entries have problems of their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cattrs.errors import ClassValidationError

from mailconduit._config._converter import NAME, ConfigConverter, converter_for
from mailconduit._config._errors import (
    Problem,
    at_attribute,
    at_index,
    describe_value,
    transform_error,
    unknown_key,
)
from mailconduit._config._schema import DEFAULT_DATABASE, Config, PipelineSettings
from mailconduit._config._secrets import resolve_secret, resolving_from
from mailconduit._config._yaml import parse_yaml, read_yaml
from mailconduit._errors import ConfigError
from mailconduit._model import OAuthProviderSettings, RunnerSettings
from mailconduit._plugins import PluginSet
from mailconduit._secret import Secret

__all__ = ["load_config"]

TOP_LEVEL_KEYS = (
    "database",
    "secret_key",
    "plugins",
    "oauth_providers",
    "accounts",
    "templates",
    "pipelines",
    "runner",
)
_MODULE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


def load_config(
    source: Path | str | Mapping[str, Any],
    plugins: PluginSet,
    *,
    db_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load and validate a configuration.

    Args:
        source: a config file (``Path``), YAML text (``str``) or an already parsed mapping.
        plugins: the loaded plugins; their registries define the tagged unions and sections.
        db_url: the ``--db`` URL, which overrides ``database:``.
        environ: where ``${env:NAME}`` looks (default: ``os.environ``).

    Returns:
        The validated ``Config``.

    Raises:
        ConfigError: every problem found, as ``(path, message)`` pairs; ``source`` names the file.
    """
    origin: Path | None = None
    if isinstance(source, Path):
        origin = source
        raw: Any = read_yaml(source)
        base = source.resolve().parent
    elif isinstance(source, str):
        raw = parse_yaml(source)
        base = Path.cwd()
    else:
        raw = source
        base = Path.cwd()
    label = str(origin) if origin is not None else None
    converter = converter_for(plugins)
    with resolving_from(base, os.environ if environ is None else environ):
        problems, config = _structure_root(converter, raw, base=base, db_url=db_url, origin=origin)
    if problems:
        raise ConfigError(problems, source=label)
    assert config is not None
    return config


def _structure_root(
    cc: ConfigConverter, raw: Any, *, base: Path, db_url: str | None, origin: Path | None
) -> tuple[list[tuple[str, str]], Config | None]:
    if not isinstance(raw, dict):
        return [
            (
                "",
                f"the top level must be a mapping of keys ({', '.join(TOP_LEVEL_KEYS)}), "
                f"got {describe_value(raw)}",
            )
        ], None
    errors: list[Exception] = []
    values: dict[str, Any] = {}

    def attempt(key: str, make: Callable[[Any], Any]) -> None:
        if key not in raw:
            return
        try:
            values[key] = make(raw[key])
        except Exception as exc:
            errors.append(at_attribute(exc, key))

    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            errors.append(at_attribute(unknown_key(str(key), TOP_LEVEL_KEYS), str(key)))
    attempt("database", _database)
    attempt("secret_key", lambda v: None if v is None else cc.structure(v, Secret))
    attempt("plugins", lambda v: _plugins(cc, v))
    attempt(
        "oauth_providers",
        lambda v: _named(v, "oauth provider", lambda n, r: cc.structure(r, OAuthProviderSettings)),
    )
    attempt("accounts", lambda v: _named(v, "account", cc.account))
    attempt("templates", lambda v: None if v is None else _folder(cc, v, base))
    attempt("pipelines", lambda v: _named(v, "pipeline", lambda n, r: cc.structure(r, PipelineSettings)))
    attempt("runner", lambda v: RunnerSettings() if v is None else cc.structure(v, RunnerSettings))
    errors.extend(_cross_references(raw, values))

    problems = (
        transform_error(ClassValidationError("While structuring Config", errors, Config)) if errors else []
    )
    if problems:
        return _ordered(problems, raw), None
    if db_url is not None:
        values["database"] = db_url
    return [], Config(source=origin, **values)


def _ordered(problems: list[tuple[str, str]], raw: dict[Any, Any]) -> list[tuple[str, str]]:
    """Problems in the order of the YAML's top-level keys (stable within one key)."""
    order = {str(key): index for index, key in enumerate(raw)}

    def rank(problem: tuple[str, str]) -> int:
        head = problem[0].split(".", 1)[0].split("[", 1)[0]
        return order.get(head, len(order))

    return sorted(problems, key=rank)


def _database(value: Any) -> str:
    if value is None:
        return DEFAULT_DATABASE
    if isinstance(value, str) and value.strip().startswith("${"):
        url = resolve_secret(value).reveal()
    elif isinstance(value, str):
        url = value
    else:
        raise Problem(f"expected a database URL like {DEFAULT_DATABASE}, got {describe_value(value)}")
    if "://" not in url:  # never echo the value: a URL may carry a password
        raise Problem(
            f"expected a database URL like {DEFAULT_DATABASE} or postgresql+psycopg://HOST/DB "
            "(no '://' in the value given)"
        )
    return url


def _plugins(cc: ConfigConverter, value: Any) -> list[str]:
    """The local plugin modules: dotted names, each loaded into ``cc.plugins`` (or disabled)."""
    import re

    from mailconduit._plugins import DISABLE_ENV

    names: list[str] = [] if value is None else cc.structure(value, list[str])
    loaded = {info.name for info in cc.plugins.plugins}
    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",")}
    errors: list[Exception] = []
    for index, name in enumerate(names):
        problem = None
        if not re.match(_MODULE, name):
            problem = f"expected a dotted module name like myapp.mail_plugin, got {name!r}"
        elif (failure := cc.plugins.failure_for(name)) is not None:
            problem = f"plugin module {name!r} failed to load: {failure.error}"
        elif name not in loaded and name not in disabled:
            problem = (
                f"plugin module {name!r} is not loaded; load the plugins with "
                "load_plugins(local=local_plugin_modules(path)) before load_config"
            )
        if problem is not None:
            errors.append(at_index(Problem(problem), index))
    if errors:
        from cattrs.errors import IterableValidationError

        raise IterableValidationError("While structuring plugins", errors, list[str])
    return names


def _folder(cc: ConfigConverter, value: Any, base: Path) -> Path:
    path: Path = cc.structure(value, Path)
    return path if path.is_absolute() else base / path


def _named(value: Any, what: str, make: Callable[[str, Any], Any]) -> dict[str, Any]:
    """Structure a mapping of ``name -> entry``; names are used in paths, so they are restricted."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Problem(f"expected a mapping of {what} names to {what} settings, got {describe_value(value)}")
    result: dict[str, Any] = {}
    errors: list[Exception] = []
    for name, raw in value.items():
        if not isinstance(name, str) or not NAME.match(name):
            errors.append(
                Problem(
                    f"{what} names use letters, digits, '-' and '_', got {describe_value(name)}",
                    at=(str(name),),
                )
            )
            continue
        try:
            result[name] = make(name, raw)
        except Exception as exc:
            errors.append(at_index(exc, name))
    if errors:
        from cattrs.errors import IterableValidationError

        raise IterableValidationError(f"While structuring {what}s", errors, dict)
    return result


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _cross_references(raw: dict[Any, Any], values: dict[str, Any]) -> list[Exception]:
    """Names that must exist elsewhere in the YAML: a pipeline's account, an auth's OAuth provider."""
    errors: list[Exception] = []
    accounts = _mapping(raw.get("accounts"))
    providers = _mapping(raw.get("oauth_providers"))
    for name, pipeline in _mapping(raw.get("pipelines")).items():
        if not isinstance(pipeline, dict):
            continue
        account = pipeline.get("receive")
        if isinstance(account, str) and account not in accounts:
            known = ", ".join(str(a) for a in accounts) or "none"
            errors.append(
                Problem(f"no account {account!r}; accounts: {known}", at=("pipelines", str(name), "receive"))
            )
        elif isinstance(account, str) and pipeline.get("folder") is not None:
            receive = _mapping(_mapping(accounts.get(account)).get("receive"))
            if receive.get("protocol") == "pop3":
                errors.append(
                    Problem(
                        f"must stay unset: account {account!r} receives by pop3, which reads the inbox only",
                        at=("pipelines", str(name), "folder"),
                    )
                )
    errors.extend(_pop3_steps(values))
    for name, account in (values.get("accounts") or {}).items():
        provider = getattr(account.auth, "provider", None)
        if isinstance(provider, str) and provider not in providers:
            known = ", ".join(str(p) for p in providers) or "none"
            errors.append(
                Problem(
                    f"no oauth provider {provider!r}; defined under oauth_providers: {known}",
                    at=("accounts", name, "auth", "provider"),
                )
            )
    return errors


def _pop3_steps(values: dict[str, Any]) -> list[Exception]:
    """Steps that change messages on the server (``flag``, ``move``) in a pipeline of a POP3 account.

    A step's settings class lists what it needs in ``server_capabilities``; POP3 has no folders
    and no flags, so such a step can never work there.
    """
    errors: list[Exception] = []
    accounts = values.get("accounts") or {}
    for name, pipeline in (values.get("pipelines") or {}).items():
        account = accounts.get(pipeline.receive)
        if account is None or account.receive is None or account.receive.protocol != "pop3":
            continue
        for step in (*pipeline.steps, *pipeline.on_error):
            needs = sorted(getattr(type(step.settings), "server_capabilities", ()) or ())
            if needs:
                errors.append(
                    Problem(
                        f"step {step.name!r} needs {' and '.join(needs)} on the server, but account "
                        f"{pipeline.receive!r} receives by pop3, which has neither folders nor flags; "
                        f"remove the step or receive by imap",
                        at=("pipelines", str(name), "steps"),
                    )
                )
    return errors
