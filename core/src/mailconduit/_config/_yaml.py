"""Read the YAML: ``yaml.safe_load`` semantics, duplicate keys refused, syntax errors with line and column.

PyYAML keeps the last of two equal keys silently; here every duplicate is a problem naming the key
and both lines. A syntax error becomes a ``ConfigError`` with the file, line and column, and never
quotes the offending line (it may hold a password).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailconduit._errors import ConfigError

__all__ = ["local_plugin_modules", "parse_yaml", "read_yaml"]


def _loader_class() -> Any:
    import yaml

    class StrictSafeLoader(yaml.SafeLoader):
        """A ``SafeLoader`` that records duplicate mapping keys instead of keeping the last."""

        duplicates: list[tuple[str, str]]

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, int] = {}
                for key_node, _value_node in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    line = key_node.start_mark.line + 1
                    try:
                        first = seen.get(key)
                    except TypeError:  # an unhashable key; SafeLoader reports it itself
                        continue
                    if first is None:
                        seen[key] = line
                        continue
                    self.duplicates.append(
                        (
                            f"line {line}, column {key_node.start_mark.column + 1}",
                            f"duplicate key {str(key)!r} (first at line {first}); remove one of them",
                        )
                    )
            return super().construct_mapping(node, deep=deep)

    return StrictSafeLoader


def parse_yaml(text: str, *, source: str | None = None) -> Any:
    """Parse YAML ``text`` safely; raise ``ConfigError`` for syntax errors and duplicate keys.

    Returns:
        The document (``{}`` for an empty one).
    """
    import yaml

    loader = _loader_class()(text)
    loader.duplicates = []
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "YAML"
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        lines = text.splitlines()
        if mark is not None and mark.line < len(lines) and "${" in lines[mark.line]:
            context += '; inside { } or [ ] quote secret references: "${env:NAME}"'
        raise ConfigError([(where, f"YAML syntax error: {problem}{context}")], source=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError([("", f"YAML syntax error: {type(exc).__name__}")], source=source) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError(loader.duplicates, source=source)
    return {} if data is None else data


def read_yaml(path: Path) -> Any:
    """Read and parse the config file ``path``; an unreadable file is a ``ConfigError`` too."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [("", f"config file {path} not found; pass --config FILE or set MAILCONDUIT_CONFIG")],
            source=str(path),
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([("", f"not UTF-8 text (byte {exc.start})")], source=str(path)) from None
    except OSError as exc:
        raise ConfigError([("", f"cannot read the file: {exc.strerror}")], source=str(path)) from None
    return parse_yaml(text, source=str(path))


def local_plugin_modules(path: Path) -> list[str]:
    """The YAML's top-level ``plugins:`` list, without validating anything else.

    A file that cannot be read or parsed, or a ``plugins:`` that is not a list of names, gives the
    names it can (``mailconduit config check`` reports the problems); loading plugins goes on.
    """
    try:
        data = read_yaml(path)
    except ConfigError:
        return []
    names = data.get("plugins") if isinstance(data, dict) else None
    if not isinstance(names, list):
        return []
    return [name.strip() for name in names if isinstance(name, str) and name.strip()]
