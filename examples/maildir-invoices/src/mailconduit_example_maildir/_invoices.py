"""The ``file_invoices`` pipeline action: matching attachments go into FOLDER/DATE/SENDER/, once each.

A message is looked at when its subject matches ``match.subject`` (any subject when unset); its
attachments whose file name or content type match are written to
``folder/<YYYY-MM-DD of the Date header>/<sender address>/<file name>``. Filing is idempotent: a
file with the same name and bytes already there counts as filed, so a message processed again
(the core retries rejected messages, and ``replay`` runs steps again) adds nothing. A different
file under the same name gets ``name (2).pdf``. When the folder cannot be written the message is
rejected with the reason: it stays on the server and the next run tries again.
"""

from __future__ import annotations

import fnmatch
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import define, field

from mailconduit import ActionContext, ActionResult, Attachment, StoredMessage

if TYPE_CHECKING:
    from mailconduit import ParsedMessage

__all__ = ["FileInvoices", "FileInvoicesSettings", "InvoiceMatch", "file_once", "safe_name"]

_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_MAX_NAME_BYTES = 200
_MAX_COPIES = 1000


def _absolute(instance: object, attribute: Any, value: Path) -> None:
    if not value.is_absolute():
        raise ValueError(f"must be an absolute path, got {str(value)!r}")


def _regex(instance: object, attribute: Any, value: str | None) -> None:
    if value is None:
        return
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression ({exc}): {value!r}") from None


@define(frozen=True, kw_only=True)
class InvoiceMatch:
    """Which messages and attachments are invoices (``match:`` of the step).

    Attributes:
        subject: a regular expression searched in the subject, case-insensitively; unset = any.
        filenames: glob patterns for attachment file names, case-insensitive (default ``*.pdf``).
        content_types: glob patterns for attachment content types (default ``application/pdf``).
            An attachment is filed when its name or its type matches.
    """

    subject: str | None = field(default=None, validator=_regex)
    filenames: tuple[str, ...] = ("*.pdf",)
    content_types: tuple[str, ...] = ("application/pdf",)

    def __attrs_post_init__(self) -> None:
        if not self.filenames and not self.content_types:
            raise ValueError("needs at least one pattern in filenames or content_types")

    def wants_message(self, subject: str | None) -> bool:
        """Whether a message with ``subject`` is looked at."""
        return self.subject is None or re.search(self.subject, subject or "", re.IGNORECASE) is not None

    def wants(self, attachment: Attachment) -> bool:
        """Whether ``attachment`` is filed."""
        name = attachment.filename.lower()
        kind = attachment.content_type.lower()
        return any(fnmatch.fnmatchcase(name, p.lower()) for p in self.filenames) or any(
            fnmatch.fnmatchcase(kind, p.lower()) for p in self.content_types
        )


@define(frozen=True, kw_only=True)
class FileInvoicesSettings:
    """``- file_invoices: {folder: /srv/invoices, match: {...}}``.

    Attributes:
        folder: where the files go (absolute); made if missing.
        match: which messages and attachments count as invoices.
    """

    folder: Path = field(validator=_absolute)
    match: InvoiceMatch = field(factory=InvoiceMatch)


def safe_name(name: str, fallback: str) -> str:
    """``name`` as one harmless path component: no directories, controls, leading dots; <= 200 bytes.

    A file name in a message is chosen by its sender, so it is never used as a path as it is
    (``../../etc/passwd`` becomes ``passwd``).
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix) > 16:
        stem, suffix = name, ""
    while len(name.encode("utf-8")) > _MAX_NAME_BYTES and stem:
        stem = stem[:-1]
        name = f"{stem}.{suffix}" if suffix else stem
    return name or fallback


def _copy_name(name: str, number: int) -> str:
    if number == 1:
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem} ({number}).{suffix}" if dot and stem else f"{name} ({number})"


def _same(path: Path, content: bytes) -> bool:
    return path.stat().st_size == len(content) and path.read_bytes() == content


def _write_new(directory: Path, target: Path, content: bytes) -> bool:
    """Write ``target`` atomically unless it exists (then False); never overwrites, never half a file."""
    part = directory / f".{uuid.uuid4().hex}.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(part, target)
        return True
    except FileExistsError:
        return False
    finally:
        part.unlink(missing_ok=True)


def file_once(directory: Path, name: str, content: bytes) -> tuple[Path, bool]:
    """File ``content`` as ``directory/name`` unless the same bytes are already there.

    Returns:
        The file holding the content, and whether it was written now (False: it was there).

    Raises:
        OSError: the directory cannot be written, or a thousand different files share the name.
    """
    for number in range(1, _MAX_COPIES + 1):
        candidate = directory / _copy_name(name, number)
        if candidate.exists():
            if _same(candidate, content):
                return candidate, False
            continue
        if _write_new(directory, candidate, content):
            return candidate, True
        if _same(candidate, content):  # another process filed the same bytes meanwhile
            return candidate, False
    raise FileExistsError(f"{_MAX_COPIES} different files named {name!r} in {directory}")


def _place(parsed: ParsedMessage) -> tuple[str, str]:
    """The date folder (the Date header's own calendar day) and the sender folder of a message."""
    day = parsed.date.strftime("%Y-%m-%d") if parsed.date is not None else "undated"
    sender = parsed.from_[0].addr_spec.lower() if parsed.from_ else ""
    return day, safe_name(sender, "unknown-sender")


class FileInvoices:
    """The ``file_invoices`` action; one instance serves every message of a pipeline."""

    def __init__(self, settings: FileInvoicesSettings) -> None:
        self.settings = settings

    def __call__(self, message: StoredMessage, context: ActionContext) -> ActionResult:
        """File the message's invoice attachments; reject it when the folder cannot be written."""
        match = self.settings.match
        if not match.wants_message(message.subject):
            return ActionResult(accepted=True)
        from mailconduit import parse_message  # imported on use: plugin.py stays light

        parsed = parse_message(message.raw())
        if parsed.limit_exceeded:
            context.log("warning", f"file_invoices: message {message.id} is past the parse limits; not filed")
            return ActionResult(accepted=True, annotations={"file_invoices.skipped": "parse limits"})
        wanted = [a for a in parsed.attachments if match.wants(a)]
        if not wanted:
            return ActionResult(accepted=True)
        day, sender = _place(parsed)
        directory = self.settings.folder / day / sender
        filed: list[str] = []
        written = 0
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for number, attachment in enumerate(wanted, start=1):
                name = safe_name(attachment.filename, f"attachment-{number}")
                path, new = file_once(directory, name, attachment.content)
                filed.append(str(path.relative_to(self.settings.folder)))
                written += new
        except OSError as exc:
            why = exc.strerror or str(exc)
            return ActionResult(accepted=False, reason=f"cannot file invoices into {directory}: {why}")
        context.log(
            "info",
            f"file_invoices: message {message.id}: {written} new, {len(filed) - written} already filed "
            f"in {directory}",
        )
        return ActionResult(accepted=True, annotations={"file_invoices.files": "; ".join(filed)})
