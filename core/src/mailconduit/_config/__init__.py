"""The configuration: find, read and validate the YAML into a ``Config``, reporting every problem.

``load_config(source, plugins)`` is the entry point; ``local_plugin_modules(path)`` reads only the
``plugins:`` list, so plugins can be loaded before the rest is validated against their registries.
"""

from __future__ import annotations

from mailconduit._config._errors import transform_error
from mailconduit._config._load import load_config
from mailconduit._config._schema import DEFAULT_DATABASE, Config, PipelineSettings, PipelineStep, redact_url
from mailconduit._config._units import format_duration, parse_duration, parse_rate, parse_size
from mailconduit._config._yaml import local_plugin_modules, parse_yaml, read_yaml

__all__ = [
    "DEFAULT_DATABASE",
    "Config",
    "PipelineSettings",
    "PipelineStep",
    "format_duration",
    "load_config",
    "local_plugin_modules",
    "parse_duration",
    "parse_rate",
    "parse_size",
    "parse_yaml",
    "read_yaml",
    "redact_url",
    "transform_error",
]
