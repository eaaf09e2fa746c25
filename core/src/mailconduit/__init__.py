"""mailconduit: connect applications to their own mail servers.

The public API is this module, ``mailconduit.hookspecs`` and ``mailconduit.testing``; every other
module is private (its name starts with ``_``) and may change without notice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mailconduit._addresses import parse_address, parse_address_list
from mailconduit._errors import (
    AddressError,
    AuthenticationError,
    ConfigError,
    DuplicateNameError,
    EncryptionKeyError,
    HeaderInjectionError,
    MailconduitError,
    MessageError,
    NotRegisteredError,
    PluginError,
    PluginLoadError,
    PluginMissingError,
    ProtocolError,
    RenderLimitError,
    SecretError,
    ServerReplyError,
    StoreError,
    TemplateError,
    TlsError,
    TransportError,
    TransportTimeout,
)
from mailconduit._message import Address, Attachment, Message, MessageStatus, Template
from mailconduit._model import (
    Account,
    AfterReplication,
    AuthSettings,
    Backoff,
    FetchStrategy,
    MoveTo,
    OAuthProviderSettings,
    PasswordAuth,
    RateLimit,
    ReceiveSettings,
    RunnerSettings,
    SendSettings,
    TlsMode,
)
from mailconduit._plugins import LoadFailure, PluginInfo, PluginSet, load_plugins
from mailconduit._protocols import (
    MAILBOX_CAPABILITIES,
    Action,
    ActionContext,
    Authenticator,
    Mailbox,
    ProbingTransport,
    ReceiveTransport,
    SendSession,
    SendTransport,
    TemplateEngine,
    Transform,
)
from mailconduit._registering import (
    RegisterAction,
    RegisterAuthenticator,
    RegisterCommand,
    RegisterSection,
    RegisterTemplateEngine,
    RegisterTransport,
)
from mailconduit._retry import ReplyClass, classify_smtp_code
from mailconduit._secret import Secret
from mailconduit._tls import client_tls_context
from mailconduit._types import (
    ActionResult,
    Certificate,
    Credentials,
    Direction,
    FolderInfo,
    FolderState,
    MessageRef,
    RawMail,
    RecipientResult,
    RunInfo,
    RunResult,
    SendResult,
    Stage,
    StoredBatch,
    StoredMessage,
    TransformResult,
)
from mailconduit.hookspecs import hookimpl

if TYPE_CHECKING:
    from mailconduit._config import Config, PipelineSettings, PipelineStep, load_config
    from mailconduit._mime import HeaderScan, ParsedMessage, ParseLimits, compose, parse_message, scan_headers
    from mailconduit._outbox import DeliveryReport, Outbox, OutboxEntry, RunStats, queue, send
    from mailconduit._sanitize import render_inline_images, sanitize_html

# Imported on first use, so `import mailconduit` (and `mailconduit --help`) stays fast.
_LAZY = {
    "Config": "mailconduit._config",
    "PipelineSettings": "mailconduit._config",
    "PipelineStep": "mailconduit._config",
    "load_config": "mailconduit._config",
    "HeaderScan": "mailconduit._mime",
    "ParseLimits": "mailconduit._mime",
    "ParsedMessage": "mailconduit._mime",
    "compose": "mailconduit._mime",
    "parse_message": "mailconduit._mime",
    "scan_headers": "mailconduit._mime",
    "render_inline_images": "mailconduit._sanitize",
    "sanitize_html": "mailconduit._sanitize",
    "DeliveryReport": "mailconduit._outbox",
    "Outbox": "mailconduit._outbox",
    "OutboxEntry": "mailconduit._outbox",
    "RunStats": "mailconduit._outbox",
    "queue": "mailconduit._outbox",
    "send": "mailconduit._outbox",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mailconduit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "MAILBOX_CAPABILITIES",
    "Account",
    "Action",
    "ActionContext",
    "ActionResult",
    "Address",
    "AddressError",
    "AfterReplication",
    "Attachment",
    "AuthSettings",
    "AuthenticationError",
    "Authenticator",
    "Backoff",
    "Certificate",
    "Config",
    "ConfigError",
    "Credentials",
    "DeliveryReport",
    "Direction",
    "DuplicateNameError",
    "EncryptionKeyError",
    "FetchStrategy",
    "FolderInfo",
    "FolderState",
    "HeaderInjectionError",
    "HeaderScan",
    "LoadFailure",
    "Mailbox",
    "MailconduitError",
    "Message",
    "MessageError",
    "MessageRef",
    "MessageStatus",
    "MoveTo",
    "NotRegisteredError",
    "OAuthProviderSettings",
    "Outbox",
    "OutboxEntry",
    "ParseLimits",
    "ParsedMessage",
    "PasswordAuth",
    "PipelineSettings",
    "PipelineStep",
    "PluginError",
    "PluginInfo",
    "PluginLoadError",
    "PluginMissingError",
    "PluginSet",
    "ProbingTransport",
    "ProtocolError",
    "RateLimit",
    "RawMail",
    "ReceiveSettings",
    "ReceiveTransport",
    "RecipientResult",
    "RegisterAction",
    "RegisterAuthenticator",
    "RegisterCommand",
    "RegisterSection",
    "RegisterTemplateEngine",
    "RegisterTransport",
    "RenderLimitError",
    "ReplyClass",
    "RunInfo",
    "RunResult",
    "RunStats",
    "RunnerSettings",
    "Secret",
    "SecretError",
    "SendResult",
    "SendSession",
    "SendSettings",
    "SendTransport",
    "ServerReplyError",
    "Stage",
    "StoreError",
    "StoredBatch",
    "StoredMessage",
    "Template",
    "TemplateEngine",
    "TemplateError",
    "TlsError",
    "TlsMode",
    "Transform",
    "TransformResult",
    "TransportError",
    "TransportTimeout",
    "__version__",
    "classify_smtp_code",
    "client_tls_context",
    "compose",
    "hookimpl",
    "load_config",
    "load_plugins",
    "parse_address",
    "parse_address_list",
    "parse_message",
    "queue",
    "render_inline_images",
    "sanitize_html",
    "scan_headers",
    "send",
]
