"""What every subcommand shares: global options, and the plugins and config loaded once, on demand."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import define, field

if TYPE_CHECKING:
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
        return self._plugins

    def _local_plugin_modules(self) -> list[str]:
        path = self.config_file()
        if path is None or not path.exists():
            return []
        from mailconduit._config import local_plugin_modules

        return local_plugin_modules(path)
