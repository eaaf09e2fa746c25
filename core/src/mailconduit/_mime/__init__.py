"""MIME for mailconduit: compose a Message into RFC 5322 bytes, scan and parse raw bytes safely.

``compose`` writes and re-verifies headers itself (RELIABILITY.md fact 1); ``scan_headers`` is the
cheap raw-first ingest scan; ``parse_message`` is the full parse, bounded by pre-scan limits and a
worker process with CPU and memory rlimits (fact 3), and never raises on malformed input (fact 4).
"""

from __future__ import annotations

from mailconduit._mime._compose import compose
from mailconduit._mime._parse import ParsedMessage, ParseWorker, parse_message
from mailconduit._mime._prescan import ParseLimits, PreScan, prescan
from mailconduit._mime._scan import HeaderScan, scan_headers

__all__ = [
    "HeaderScan",
    "ParseLimits",
    "ParseWorker",
    "ParsedMessage",
    "PreScan",
    "compose",
    "parse_message",
    "prescan",
    "scan_headers",
]
