r"""Saving a message's attachments to a directory under names the sender cannot turn into a path.

A sender's file name is only a suggestion: the last component only (``/`` and ``\\`` both split),
no control or invisible format characters, no leading dots or spaces (no hidden files, no ``..``),
no characters Windows reserves, at most 150 characters, never a reserved device name, and a
fallback when nothing is left. Files are created exclusively inside the directory (an existing
file or symlink is never followed or overwritten); a collision gets ``-2``, ``-3`` ... before the
extension.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from mailconduit._message import Attachment

__all__ = ["safe_filename", "save_attachments"]

MAX_NAME = 150
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_FORBIDDEN = re.compile(r'[<>:"|?*]')


def safe_filename(name: str | None, fallback: str = "attachment") -> str:
    """A file name made from a sender's suggestion that is safe to create inside a directory.

    Example:
        >>> safe_filename("../../etc/passwd")
        'passwd'
        >>> safe_filename(".bashrc")
        'bashrc'
    """
    text = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)
    text = _FORBIDDEN.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    if len(text) > MAX_NAME:
        _stem, dot, ext = text.rpartition(".")
        keep = ext if dot and 0 < len(ext) <= 10 else ""
        text = (text[: MAX_NAME - len(keep) - 1].rstrip(" .") + "." + keep) if keep else text[:MAX_NAME]
    if not text:
        return fallback
    if text.split(".", 1)[0].lower() in _RESERVED:
        text = "_" + text
    return text


def _numbered(name: str, n: int) -> str:
    stem, dot, ext = name.rpartition(".")
    if dot and stem:
        return f"{stem}-{n}.{ext}"
    return f"{name}-{n}"


def _create(directory: Path, name: str, content: bytes) -> Path:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for n in range(1, 10_000):
        candidate = directory / (name if n == 1 else _numbered(name, n))
        try:
            fd = os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        return candidate
    raise FileExistsError(f"{directory}: too many files called like {name!r}; choose an empty directory")


def save_attachments(attachments: Sequence[Attachment], directory: Path) -> list[tuple[Attachment, Path]]:
    """Write every attachment into ``directory`` (created if missing) under a safe, unique name.

    Returns:
        Each attachment with the file it was written to (always directly inside ``directory``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for position, attachment in enumerate(attachments, start=1):
        name = safe_filename(attachment.filename, fallback=f"attachment-{position}")
        path = _create(directory, name, attachment.content)
        written.append((attachment, path))
    return written
