"""The import-linter contracts stay in step with the tree: no private module or plugin is left out."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "src" / "mailconduit"


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _private_modules() -> set[str]:
    names = set()
    for path in CORE.iterdir():
        stem = path.name.removesuffix(".py")
        if stem.startswith("_") and not stem.startswith("__") and (path.suffix == ".py" or path.is_dir()):
            names.add(f"mailconduit.{stem}")
    return names


def _plugin_packages() -> set[str]:
    found = [
        *ROOT.glob("plugins/*/src/mailconduit_*/__init__.py"),
        *ROOT.glob("examples/*/src/mailconduit_*/__init__.py"),
    ]
    return {p.parent.name for p in found}


def _plugin_contract() -> dict:
    contracts = _config()["contracts"]
    return next(c for c in contracts if c["name"].startswith("Plugins import only the public API"))


def test_every_private_core_module_is_forbidden_to_plugins() -> None:
    assert set(_plugin_contract()["forbidden_modules"]) == _private_modules()


def test_every_plugin_is_checked() -> None:
    plugins = _plugin_packages()
    assert set(_config()["root_packages"]) == {"mailconduit"} | plugins
    assert set(_plugin_contract()["source_modules"]) == plugins
    independence = [c for c in _config()["contracts"] if c["type"] == "independence"]
    if len(plugins) > 1:
        assert independence and set(independence[0]["modules"]) == plugins
