"""Every ``plugins/<name>/`` distribution has the same shape (STYLE.md "Every plugin has the same shape").

``plugins/<name>/`` holds ``pyproject.toml`` (distribution ``mailconduit-<name>`` with ``-`` for
``_``, exactly one entry point ``<name> = "mailconduit_<name>.plugin"`` in ``mailconduit.plugins``,
``mailconduit`` pinned to the core's version), ``README.md``, ``src/mailconduit_<name>/plugin.py``,
``py.typed`` and ``tests/test_contract.py``. The checker is tested on throwaway trees too, so this
module proves something even while ``plugins/`` is empty.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
GROUP = "mailconduit.plugins"


def core_version(root: Path = ROOT) -> str:
    version: str = tomllib.loads((root / "core" / "pyproject.toml").read_text())["project"]["version"]
    return version


def plugin_problems(plugin_dir: Path, version: str) -> list[str]:
    """Every way ``plugin_dir`` departs from the plugin layout; empty when it conforms."""
    name = plugin_dir.name
    package = f"mailconduit_{name}"
    problems: list[str] = []
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        problems.append(f"directory name {name!r} must be lower-case letters, digits and '_'")
    pyproject_path = plugin_dir / "pyproject.toml"
    if not pyproject_path.is_file():
        return [*problems, "pyproject.toml is missing"]
    try:
        project = tomllib.loads(pyproject_path.read_text()).get("project", {})
    except tomllib.TOMLDecodeError as exc:
        return [*problems, f"pyproject.toml does not parse: {exc}"]
    expected_dist = f"mailconduit-{name.replace('_', '-')}"
    if project.get("name") != expected_dist:
        problems.append(f"distribution name is {project.get('name')!r}, expected {expected_dist!r}")
    entry_points = project.get("entry-points", {})
    group = entry_points.get(GROUP, {})
    expected_entry = {name: f"{package}.plugin"}
    if group != expected_entry:
        problems.append(f"entry points in {GROUP!r} are {group!r}, expected exactly {expected_entry!r}")
    other_groups = sorted(g for g in entry_points if g != GROUP)
    if other_groups:
        problems.append(f"unexpected entry point groups {other_groups} (plugins hook in through {GROUP!r})")
    pins = [d for d in project.get("dependencies", []) if re.match(r"mailconduit\s*(\[|[=<>!~]|$)", d)]
    if pins != [f"mailconduit=={version}"]:
        problems.append(f"dependencies pin mailconduit as {pins!r}, expected ['mailconduit=={version}']")
    source = plugin_dir / "src" / package
    for path, what in [
        (plugin_dir / "README.md", "README.md"),
        (source / "__init__.py", f"src/{package}/__init__.py"),
        (source / "plugin.py", f"src/{package}/plugin.py"),
        (source / "py.typed", f"src/{package}/py.typed"),
        (plugin_dir / "tests" / "test_contract.py", "tests/test_contract.py"),
    ]:
        if not path.is_file():
            problems.append(f"{what} is missing")
    readme = plugin_dir / "README.md"
    if readme.is_file() and expected_dist not in readme.read_text():
        problems.append(f"README.md does not mention {expected_dist} (how to install it)")
    contract = plugin_dir / "tests" / "test_contract.py"
    if contract.is_file() and "mailconduit.testing" not in contract.read_text():
        problems.append("tests/test_contract.py does not use the contract suites of mailconduit.testing")
    return problems


def plugin_dirs(root: Path = ROOT) -> list[Path]:
    folder = root / "plugins"
    return (
        sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
        if folder.is_dir()
        else []
    )


@pytest.mark.parametrize("plugin_dir", plugin_dirs(), ids=lambda p: p.name)
def test_plugin_has_the_standard_layout(plugin_dir: Path) -> None:
    assert plugin_problems(plugin_dir, core_version()) == []


# --------------------------------------------------------------------------- the checker itself


def write_plugin(root: Path, name: str, version: str = "0.1.0") -> Path:
    """A conforming plugin tree ``root/plugins/<name>``."""
    package = f"mailconduit_{name}"
    dist = f"mailconduit-{name.replace('_', '-')}"
    plugin = root / "plugins" / name
    (plugin / "src" / package).mkdir(parents=True)
    (plugin / "tests").mkdir()
    (plugin / "pyproject.toml").write_text(
        f'[project]\nname = "{dist}"\nversion = "{version}"\n'
        f'dependencies = ["mailconduit=={version}", "imapclient>=3"]\n\n'
        f'[project.entry-points."mailconduit.plugins"]\n{name} = "{package}.plugin"\n'
    )
    (plugin / "README.md").write_text(f"# {dist}\n\n    pip install {dist}\n")
    (plugin / "src" / package / "__init__.py").write_text('"""The plugin."""\n')
    (plugin / "src" / package / "plugin.py").write_text('"""Hook implementations."""\n')
    (plugin / "src" / package / "py.typed").write_text("")
    (plugin / "tests" / "test_contract.py").write_text("from mailconduit.testing import MailboxContract\n")
    return plugin


def test_checker_accepts_a_conforming_plugin_with_an_underscore_name(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path, "ldap_certs")
    assert plugin_problems(plugin, "0.1.0") == []
    assert plugin_dirs(tmp_path) == [plugin]


def test_checker_finds_nothing_when_there_are_no_plugins(tmp_path: Path) -> None:
    assert plugin_dirs(tmp_path) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda p: (p / "README.md").unlink(), "README.md is missing"),
        (lambda p: (p / "src/mailconduit_ldap_certs/py.typed").unlink(), "py.typed is missing"),
        (lambda p: (p / "tests/test_contract.py").unlink(), "tests/test_contract.py is missing"),
        (lambda p: (p / "src/mailconduit_ldap_certs/plugin.py").unlink(), "plugin.py is missing"),
        (lambda p: (p / "pyproject.toml").unlink(), "pyproject.toml is missing"),
        (
            lambda p: _edit(p, '"mailconduit-ldap-certs"', '"mailconduit-ldap_certs"'),
            "distribution name is 'mailconduit-ldap_certs', expected 'mailconduit-ldap-certs'",
        ),
        (
            lambda p: _edit(p, '"mailconduit_ldap_certs.plugin"', '"mailconduit_ldap_certs.hooks"'),
            "entry points in 'mailconduit.plugins'",
        ),
        (
            lambda p: _edit(p, 'ldap_certs = "', 'ldap = "'),
            "expected exactly {'ldap_certs': 'mailconduit_ldap_certs.plugin'}",
        ),
        (
            lambda p: _append(p, 'extra = "mailconduit_ldap_certs.other"\n'),
            "expected exactly",
        ),
        (
            lambda p: _append(
                p, '\n[project.entry-points.pytest11]\nx = "mailconduit_ldap_certs.fixtures"\n'
            ),
            "unexpected entry point groups ['pytest11']",
        ),
        (lambda p: _edit(p, "mailconduit==0.1.0", "mailconduit>=0.1"), "expected ['mailconduit==0.1.0']"),
        (lambda p: _edit(p, '"mailconduit==0.1.0", ', ""), "pin mailconduit as []"),
        (
            lambda p: (p / "tests/test_contract.py").write_text("def test_nothing():\n    pass\n"),
            "does not use the contract suites",
        ),
        (
            lambda p: (p / "README.md").write_text("# LDAP\n"),
            "README.md does not mention mailconduit-ldap-certs",
        ),
    ],
)
def test_checker_reports_each_departure(tmp_path: Path, breakage: object, expected: str) -> None:
    plugin = write_plugin(tmp_path, "ldap_certs")
    breakage(plugin)  # type: ignore[operator]
    problems = plugin_problems(plugin, "0.1.0")
    assert any(expected in problem for problem in problems), problems


def test_checker_wants_the_core_version_pinned(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path, "smime", version="0.1.0")
    assert plugin_problems(plugin, "0.2.0") == [
        "dependencies pin mailconduit as ['mailconduit==0.1.0'], expected ['mailconduit==0.2.0']"
    ]


def test_core_version_comes_from_the_core_pyproject(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "pyproject.toml").write_text('[project]\nname = "mailconduit"\nversion = "9.8.7"\n')
    assert core_version(tmp_path) == "9.8.7"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", core_version())


def _edit(plugin: Path, old: str, new: str) -> None:
    path = plugin / "pyproject.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _append(plugin: Path, text: str) -> None:
    path = plugin / "pyproject.toml"
    path.write_text(path.read_text() + text)
