"""What every subcommand shares: global options, and the plugins and config loaded once, on demand."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import define, field

if TYPE_CHECKING:
    from mailconduit._auth_context import StoreAuthContext
    from mailconduit._config import Config
    from mailconduit._plugins import PluginSet

__all__ = ["DEFAULT_CONFIG", "CliContext"]

DEFAULT_CONFIG = "mailconduit.yaml"


@define
class CliContext:
    """Global options of one CLI invocation and what they lead to, loaded lazily."""

    config_path: str | None = None
    db_url: str | None = None
    verbose: int = 0
    _plugins: PluginSet | None = field(default=None, alias="_plugins")
    _config: Any = field(default=None, alias="_config")

    def config_file(self) -> Path | None:
        """The config file in effect: ``--config``, else ``$MAILCONDUIT_CONFIG``, else ./mailconduit.yaml."""
        if self.config_path:
            return Path(self.config_path)
        env = os.environ.get("MAILCONDUIT_CONFIG")
        if env:
            return Path(env)
        default = Path(DEFAULT_CONFIG)
        return default if default.exists() else None

    def plugins(self) -> PluginSet:
        """The plugin set: built-ins, installed plugins, and local modules named in the config."""
        if self._plugins is None:
            from mailconduit._plugins import load_plugins

            self._plugins = load_plugins(local=self._local_plugin_modules())
            self._plugins.attach_auth_context(self._auth_context())
        return self._plugins

    def _auth_context(self) -> StoreAuthContext:
        """Token caches for authenticators; the store and the config are opened only when one asks."""
        from mailconduit._auth_context import StoreAuthContext
        from mailconduit._cli._store_access import open_cli_store, secret_key

        return StoreAuthContext(
            lambda: open_cli_store(self, create=True),
            lambda: self.config().oauth_providers,
            secret_key=lambda: secret_key(self),
        )

    def config(self) -> Config:
        """The configuration in effect, validated against the plugins (``--db`` overrides ``database:``).

        Raises:
            ConfigError: no config file was found, or it has problems (all of them are listed).
        """
        if self._config is None:
            from mailconduit._config import load_config
            from mailconduit._errors import ConfigError

            path = self.config_file()
            if path is None:
                raise ConfigError(
                    [
                        (
                            "",
                            f"no configuration: pass --config FILE, set MAILCONDUIT_CONFIG, "
                            f"or create ./{DEFAULT_CONFIG}",
                        )
                    ]
                )
            self._config = load_config(path, self.plugins(), db_url=self.db_url)
        config: Config = self._config
        return config

    def _local_plugin_modules(self) -> list[str]:
        path = self.config_file()
        if path is None or not path.exists():
            return []
        from mailconduit._config import local_plugin_modules

        return local_plugin_modules(path)
