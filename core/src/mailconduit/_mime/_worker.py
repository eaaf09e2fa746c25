"""The parse worker: a child process that runs ``_extract.extract`` under RLIMIT_CPU and RLIMIT_AS.

Started by ``_parse.ParseWorker`` as ``python -c "from mailconduit._mime._worker import main; main()"``.
Requests and replies are ``marshal`` frames with a 4-byte length prefix on stdin/stdout. Before each
message the soft limits are set to the CPU used so far plus the budget, and to the current address
space plus the memory budget; past the CPU limit the kernel ends the process (SIGXCPU), which the
parent records as a ``limit_exceeded`` defect. A MemoryError is answered, then the worker exits.
"""

from __future__ import annotations

import marshal
import resource
import sys
from typing import IO, Any

__all__ = ["main", "read_frame", "write_frame"]


def read_frame(stream: IO[bytes]) -> Any:
    """Read one length-prefixed marshal frame, or return None at end of stream."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    size = int.from_bytes(head, "big")
    data = stream.read(size)
    if len(data) < size:
        return None
    return marshal.loads(data)  # noqa: S302 - frames come from our own worker process


def write_frame(stream: IO[bytes], value: Any) -> None:
    """Write ``value`` as one length-prefixed marshal frame and flush."""
    data = marshal.dumps(value)
    stream.write(len(data).to_bytes(4, "big") + data)
    stream.flush()


def _address_space() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _handle(cpu_budget: float, memory_budget: int, raw: bytes) -> dict[str, Any]:
    from mailconduit._mime._extract import extract

    _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
    _, as_hard = resource.getrlimit(resource.RLIMIT_AS)
    start = _cpu_used()
    cpu_soft = int(start + cpu_budget) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft if cpu_hard < 0 else min(cpu_soft, cpu_hard), cpu_hard))
    as_soft = _address_space() + memory_budget
    resource.setrlimit(resource.RLIMIT_AS, (as_soft if as_hard < 0 else min(as_soft, as_hard), as_hard))
    try:
        result = extract(raw)
    except MemoryError:
        result = {"defects": ["limit_exceeded: memory budget of the parse worker"], "fatal": True}
    except RecursionError:
        result = {"defects": ["limit_exceeded: nesting too deep for the parser"]}
    except Exception as exc:  # a parser bug on hostile input is a defect, never a crash of the caller
        result = {"defects": [f"parse failed: {type(exc).__name__}"]}
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (as_hard, as_hard))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_hard, cpu_hard))
    result["cpu_seconds"] = _cpu_used() - start
    result["max_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result


def main() -> None:
    """Serve parse requests from stdin until it closes."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        request = read_frame(stdin)
        if request is None:
            return
        cpu_budget, memory_budget, raw = request
        result = _handle(cpu_budget, memory_budget, raw)
        write_frame(stdout, result)
        if result.get("fatal"):
            return
