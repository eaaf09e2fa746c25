"""CLI start-up: wall time of `mailconduit --help` against a bare interpreter start, same run.

Target (issue 3): `mailconduit --help` under 0.3 s. Prints medians over ROUNDS alternating runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 15
VENV_BIN = Path(sys.executable).parent


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    help_cmd = [str(VENV_BIN / "mailconduit"), "--help"]
    bare_cmd = [sys.executable, "-c", "pass"]
    wall(help_cmd)  # warm the page cache
    helps, bares = [], []
    for _ in range(ROUNDS):
        helps.append(wall(help_cmd))
        bares.append(wall(bare_cmd))
    h, b = statistics.median(helps), statistics.median(bares)
    spread = f"(min {min(helps) * 1000:.1f}, max {max(helps) * 1000:.1f})"
    print(f"mailconduit --help   median {h * 1000:7.1f} ms  {spread}")
    print(f"python -c pass       median {b * 1000:7.1f} ms")
    print(f"ratio help/bare      {h / b:.2f}x; target under 300 ms: {'met' if h < 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
