"""`mailconduit --help` stays fast: it imports none of the heavy libraries (STYLE.md, simonw/llm#732)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["msal", "cryptography", "ldap3", "imapclient", "sqlalchemy", "alembic", "jinja2", "nh3", "yaml"]

PROBE = """
import json, sys
from mailconduit._cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules)), file=sys.stderr)
"""


def _modules_after(argv_probe: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", argv_probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_loads_no_heavy_library() -> None:
    loaded = _modules_after(PROBE)
    heavy_loaded = sorted(h for h in HEAVY if h in loaded or any(m.startswith(h + ".") for m in loaded))
    assert heavy_loaded == []


def test_help_lists_builtin_commands() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mailconduit", "--help"], capture_output=True, text=True, check=True
    )
    for name in ("plugins", "config", "db", "key", "log"):
        assert f"  {name} " in done.stdout
