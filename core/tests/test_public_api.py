"""The public surface: ``mailconduit.__all__`` is pinned, documented, and everything else is private.

A change to the pin is a change to the public API: update the list here on purpose, in the same
commit, and say so in its message.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import mailconduit
import mailconduit.hookspecs
import mailconduit.testing

PUBLIC_NAMES = [
    "Account",
    "Action",
    "ActionContext",
    "ActionResult",
    "Address",
    "AddressError",
    "AdoptResult",
    "AfterReplication",
    "AlreadyRunning",
    "AnalyseResult",
    "Attachment",
    "AuthContext",
    "AuthSettings",
    "AuthenticationError",
    "Authenticator",
    "Backoff",
    "CONNECTION_PROBLEMS",
    "Certificate",
    "CommandClock",
    "CommandDeadline",
    "Config",
    "ConfigError",
    "Credentials",
    "DeliveryReport",
    "Direction",
    "Draft",
    "Drafts",
    "DuplicateNameError",
    "EncryptionKeyError",
    "Endpoint",
    "FetchStrategy",
    "FlaggingMailbox",
    "FolderInfo",
    "FolderState",
    "HeaderInjectionError",
    "HeaderScan",
    "JobStatus",
    "LoadFailure",
    "MAILBOX_CAPABILITIES",
    "Mailbox",
    "MailconduitError",
    "Message",
    "MessageError",
    "MessageRef",
    "MessageStatus",
    "MoveTo",
    "NeedsReauth",
    "NotRegisteredError",
    "OAuthProviderSettings",
    "OnceResult",
    "Outbox",
    "OutboxEntry",
    "OutboxStatus",
    "ParseLimits",
    "ParsedMessage",
    "PasswordAuth",
    "Pipeline",
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
    "Renderer",
    "ReplayResult",
    "ReplyClass",
    "RunInfo",
    "RunResult",
    "RunStats",
    "Runner",
    "RunnerSettings",
    "Secret",
    "SecretError",
    "SendOptions",
    "SendOutcome",
    "SendResult",
    "SendSession",
    "SendSettings",
    "SendTransport",
    "ServerReplyError",
    "Stage",
    "StatusReport",
    "Store",
    "StoreAuthContext",
    "StoreError",
    "StoredBatch",
    "StoredMessage",
    "Template",
    "TemplateEngine",
    "TemplateError",
    "TemplateFolder",
    "TemplateStore",
    "TlsError",
    "TlsMode",
    "Transform",
    "TransformResult",
    "TransportError",
    "TransportTimeout",
    "__version__",
    "adopt",
    "analyse",
    "classify_smtp_code",
    "client_tls_context",
    "compose",
    "connection_error",
    "diagnose_connection",
    "exception_chain",
    "export_xml",
    "export_yaml",
    "hookimpl",
    "import_xml",
    "import_yaml",
    "load_config",
    "load_plugins",
    "load_template_files",
    "open_store",
    "parse_address",
    "parse_address_list",
    "parse_message",
    "pipelines_of",
    "queue",
    "read_status",
    "render_inline_images",
    "render_template",
    "replay",
    "replicate",
    "run_pipeline",
    "sanitize_html",
    "sasl_oauthbearer",
    "sasl_plain",
    "sasl_xoauth2",
    "scan_headers",
    "send",
    "send_template",
    "watch",
    "watch_pipeline",
]


def test_all_is_pinned() -> None:
    assert sorted(mailconduit.__all__) == PUBLIC_NAMES
    assert len(set(mailconduit.__all__)) == len(mailconduit.__all__)


def test_every_name_in_all_exists() -> None:
    for module in (mailconduit, mailconduit.hookspecs, mailconduit.testing):
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], module.__name__


def test_every_public_class_and_function_has_a_docstring() -> None:
    undocumented = []
    for module in (mailconduit, mailconduit.hookspecs, mailconduit.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            documentable = inspect.isclass(obj) or inspect.isfunction(obj)
            if documentable and not (obj.__doc__ or "").strip():
                undocumented.append(f"{module.__name__}.{name}")
    assert undocumented == []


def test_only_the_public_modules_lack_the_underscore() -> None:
    package = Path(mailconduit.__file__).parent
    public = sorted(
        entry.stem if entry.is_file() else entry.name
        for entry in package.iterdir()
        if (entry.suffix == ".py" or (entry.is_dir() and (entry / "__init__.py").exists()))
        and not entry.name.startswith("_")
    )
    assert public == ["hookspecs", "testing"]


def test_public_names_are_defined_in_private_modules_or_the_public_ones() -> None:
    """Re-exports come from ``mailconduit._*`` so users never need to import a private module."""
    for name in mailconduit.__all__:
        obj = getattr(mailconduit, name)
        origin = getattr(obj, "__module__", None)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert origin is not None and origin.startswith("mailconduit"), name


def test_version_is_the_distribution_version() -> None:
    from importlib.metadata import version

    assert mailconduit.__version__ == version("mailconduit")


def test_testing_exports_the_action_test_double() -> None:
    for name in ("RecordingContext", "QueuedMail", "ServerChange", "ActionContract", "stored_sample"):
        assert name in mailconduit.testing.__all__, name
