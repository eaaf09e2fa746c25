"""Canary secrets for the K1 sweep: unique values tests use as secrets, and a scanner that finds them.

Tests take their passwords, tokens and keys from :func:`canary`; the repository's conftest attaches
a DEBUG log handler for the whole session and, at the end, scans every log record, captured
stdout/stderr, failure report and temp file for each canary in every form it could leak in (raw,
base64 including SASL PLAIN and XOAUTH2 blobs, URL-encoded, hex). One hit fails the run.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CanaryScanner", "canary", "canary_forms", "find_canaries", "known_canaries"]

_LOCK = threading.Lock()
_CANARIES: dict[str, str] = {}


def canary(kind: str = "secret") -> str:
    """Return a new unique secret value for a test and remember it for the leak sweep.

    Args:
        kind: what it stands for (``password``, ``token`` ...); part of the value, for diagnosis.
    """
    value = f"mc-canary-{kind}-{secrets.token_hex(8)}"
    with _LOCK:
        _CANARIES[value] = kind
    return value


def remember(value: str, kind: str) -> str:
    """Register an existing secret (a generated Fernet key, say) for the sweep and return it."""
    with _LOCK:
        _CANARIES[value] = kind
    return value


def known_canaries() -> dict[str, str]:
    """Every canary handed out so far, value -> kind."""
    with _LOCK:
        return dict(_CANARIES)


def canary_forms(value: str, usernames: Iterable[str] = ()) -> set[bytes]:
    """The byte strings a leak of ``value`` could look like.

    Raw, base64 (alone, and in AUTH PLAIN and XOAUTH2 blobs with each of ``usernames``), URL-encoded
    and hex.
    """
    raw = value.encode()
    forms = {raw, urllib.parse.quote(value, safe="").encode(), binascii.hexlify(raw)}
    # base64 of the value alone, at each of the 3 alignments a longer blob could put it in
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw)
        # drop the 4-character groups that mix in bytes before or after the value
        forms.add(encoded[4 if pad else 0 : -4])
    for user in usernames:
        forms.add(base64.b64encode(b"\0" + user.encode() + b"\0" + raw))
        forms.add(base64.b64encode(f"user={user}\x01auth=Bearer {value}\x01\x01".encode()))
    return {f for f in forms if len(f) >= 12}


PREFIX = "mc-canary-"


def _prefix_needles() -> tuple[bytes, ...]:
    """Byte strings at least one of which is in any blob holding a ``mc-canary-`` value in any form."""
    raw = PREFIX.encode()
    needles = {raw, binascii.hexlify(raw)}
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw + b"\0\0\0")
        needles.add(encoded[4 if pad else 0 : ((pad + len(raw)) // 3) * 4])
    return tuple(sorted(needles))


class CanaryScanner:
    """Finds canaries in blobs fast: a few prefix probes rule out most blobs in one pass each.

    Values made by :func:`canary` share a prefix, so a blob that holds none of the prefix's forms
    holds none of them; other remembered values (generated keys, tokens) are checked one by one.
    """

    def __init__(self, canaries: dict[str, str] | None = None) -> None:
        chosen = canaries if canaries is not None else known_canaries()
        self._kinds = dict(chosen)
        self._forms = {value: canary_forms(value) for value in chosen}
        self._needles = _prefix_needles()

    def find(self, blob: bytes) -> list[str]:
        """The canaries (``kind:value-prefix...``) found in ``blob``."""
        found = []
        prefixed_possible = any(needle in blob for needle in self._needles)
        for value, forms in self._forms.items():
            if value.startswith(PREFIX) and not prefixed_possible:
                continue
            if any(form in blob for form in forms):
                found.append(f"{self._kinds[value]}:{value[:24]}...")
        return found


def find_canaries(blob: bytes, canaries: dict[str, str] | None = None) -> list[str]:
    """Return the canaries (``kind:value-prefix``) found in ``blob`` in any of their forms."""
    return CanaryScanner(canaries).find(blob)


MAX_SCANNED_FILE = 4 * 1024 * 1024
"""Temp files above this size are bulk test data (message stores of sweeps), not where secrets leak."""


def scan_tree(
    root: Path, canaries: dict[str, str] | None = None, skip_suffixes: tuple[str, ...] = ()
) -> list[str]:
    """Scan every regular file under ``root`` up to ``MAX_SCANNED_FILE``; return ``path: kind`` hits."""
    scanner = CanaryScanner(canaries)
    hits: list[str] = []
    for path in root.rglob("*"):
        try:
            if not path.is_file() or path.is_symlink() or path.suffix in skip_suffixes:
                continue
            if path.stat().st_size > MAX_SCANNED_FILE:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        hits.extend(f"{path}: {hit}" for hit in scanner.find(data))
    return hits
