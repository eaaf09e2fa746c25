"""The ``send:`` and ``receive:`` settings of the ``maildir`` protocol, as attrs classes the YAML fills.

A transport's settings class subclasses ``SendSettings`` or ``ReceiveSettings`` and adds its own
keys; the core's converter then knows them, refuses unknown ones, and reports a validator's
``ValueError`` text at its YAML path (``accounts.local.send.path: must be an absolute path ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attrs import define, field

from mailconduit import ReceiveSettings, SendSettings, TlsMode

__all__ = ["MaildirReceiveSettings", "MaildirSendSettings"]


def _absolute(instance: object, attribute: Any, value: Path) -> None:
    if not value.is_absolute():
        raise ValueError(f"must be an absolute path, got {str(value)!r}")


@define(frozen=True, kw_only=True)
class MaildirSendSettings(SendSettings):
    """``send: {protocol: maildir, path: /var/mail/outgoing}``: deliver outgoing mail into a Maildir.

    Attributes:
        path: the Maildir (absolute); ``tmp/``, ``new/`` and ``cur/`` live under it.
        create: create the Maildir when it is missing (default true).
        trace_headers: put ``Return-Path:`` and one ``Delivered-To:`` per recipient above the
            message, as a local delivery agent does, so the envelope is not lost (default true).
        host: not used (there is no server); defaults to ``localhost``.
        tls: not used; defaults to ``none``.
    """

    path: Path = field(validator=_absolute)
    create: bool = True
    trace_headers: bool = True
    host: str = "localhost"
    tls: TlsMode = TlsMode.NONE


@define(frozen=True, kw_only=True)
class MaildirReceiveSettings(ReceiveSettings):
    """``receive: {protocol: maildir, path: /var/mail/incoming}``: replicate mail from a Maildir.

    Attributes:
        path: the Maildir (absolute).
        create: create the Maildir when it is missing (default false: a mistyped path is an
            error, not an empty mailbox).
        host: not used; defaults to ``localhost``.
        tls: not used; defaults to ``none``.
    """

    path: Path = field(validator=_absolute)
    create: bool = False
    host: str = "localhost"
    tls: TlsMode = TlsMode.NONE
