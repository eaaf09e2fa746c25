"""The one error tree of mailconduit: every error says what went wrong, where, and what to do next.

Each error also inherits the builtin a caller would naturally catch, so ``except ConnectionError``
or ``except ValueError`` keeps working around mailconduit calls::

    MailconduitError (Exception)
    ├── ConfigError (ValueError)                 a config file has problems; .problems lists them all
    ├── SecretError (ValueError)                 a ${env:...} / ${file:...} reference cannot be resolved
    ├── EncryptionKeyError (ValueError)          the secret key is missing, malformed or wrong
    ├── PluginError (RuntimeError)
    │   ├── PluginLoadError                      a plugin failed to import or register
    │   ├── DuplicateNameError                   two plugins registered the same name
    │   ├── NotRegisteredError (LookupError)     a name nobody registered; lists what is available
    │   └── PluginMissingError (LookupError)     the config needs a plugin that is not installed or failed
    ├── MessageError (ValueError)
    │   ├── HeaderInjectionError                 CR, LF or NUL in a header or envelope value
    │   └── AddressError                         an address that cannot be parsed exactly
    ├── StoreError (RuntimeError)                the store cannot be opened or is at the wrong revision
    ├── TemplateError (ValueError)               a template failed to render; names template and line
    │   └── RenderLimitError                     a render exceeded its time or output budget
    └── TransportError (ConnectionError)         talking to a server failed
        ├── ServerReplyError                     the server answered with an error; .reply holds it
        ├── ProtocolError                        the server's reply is malformed or hostile
        ├── TlsError                             certificate or host-name verification failed
        ├── AuthenticationError                  the server refused the credentials
        └── TransportTimeout (TimeoutError)      the server did not answer in time

No error message ever contains a secret: values come from the ``Secret`` type, whose str is ``***``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AddressError",
    "AuthenticationError",
    "ConfigError",
    "DuplicateNameError",
    "EncryptionKeyError",
    "HeaderInjectionError",
    "MailconduitError",
    "MessageError",
    "NotRegisteredError",
    "PluginError",
    "PluginLoadError",
    "PluginMissingError",
    "ProtocolError",
    "RenderLimitError",
    "SecretError",
    "ServerReplyError",
    "StoreError",
    "TemplateError",
    "TlsError",
    "TransportError",
    "TransportTimeout",
]


class MailconduitError(Exception):
    """Base class of every error mailconduit raises on purpose."""


class ConfigError(MailconduitError, ValueError):
    """A configuration has one or more problems.

    Attributes:
        problems: every problem found, as ``(path, message)`` pairs such as
            ``("accounts.support.receive.port", "must be <= 65535, got 99999")``.
        source: the file the configuration came from, if any.
    """

    def __init__(self, problems: Sequence[tuple[str, str]], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        lines = [f"{path}: {message}" if path else message for path, message in self.problems]
        count = len(lines)
        head = f"{where}{count} problem{'s' if count != 1 else ''} in the configuration"
        super().__init__(head + "\n" + "\n".join(f"  {line}" for line in lines))


class SecretError(MailconduitError, ValueError):
    """A secret reference (``${env:NAME}`` or ``${file:PATH}``) cannot be resolved."""


class EncryptionKeyError(MailconduitError, ValueError):
    """The key that encrypts secrets at rest is missing, malformed, or does not open stored data."""


class PluginError(MailconduitError, RuntimeError):
    """Something is wrong with a plugin or with what it registered."""


class PluginLoadError(PluginError):
    """A plugin failed to import or to register its hooks (for example a misspelt hook name)."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same name in one registry; the message names both."""


class NotRegisteredError(PluginError, LookupError):
    """A name was looked up that no plugin registered; the message lists what is available."""


class PluginMissingError(PluginError, LookupError):
    """The configuration needs a plugin that is not installed or failed to load."""


class MessageError(MailconduitError, ValueError):
    """A message or one of its parts cannot be built as asked."""


class HeaderInjectionError(MessageError):
    """A header or envelope value contains CR, LF, NUL or another line separator.

    Attributes:
        field: the header or envelope field that was refused.
    """

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        super().__init__(f"{field}: {detail}")


class AddressError(MessageError):
    """An e-mail address that cannot be parsed exactly as written; it is refused, never rewritten."""


class StoreError(MailconduitError, RuntimeError):
    """The store cannot be opened, migrated or written."""


class TemplateError(MailconduitError, ValueError):
    """A template failed to parse or render; the message names the template, the field and the line."""


class RenderLimitError(TemplateError):
    """A template render exceeded its budget of CPU time or output size."""


class TransportError(MailconduitError, ConnectionError):
    """Talking to a mail or directory server failed.

    Attributes:
        temporary: True when trying again later may succeed (4xx replies, dropped connections).
    """

    temporary: bool = True


class ServerReplyError(TransportError):
    """The server answered a command with an error.

    Attributes:
        code: the numeric reply code where the protocol has one (SMTP), else None.
        reply: the server's reply text, quoted in the message.
    """

    def __init__(self, message: str, *, code: int | None = None, reply: str = "", temporary: bool) -> None:
        self.code = code
        self.reply = reply
        self.temporary = temporary
        super().__init__(message)


class ProtocolError(TransportError):
    """The server's reply is malformed or hostile (oversized literal, endless line, wrong tag)."""

    temporary = False


class TlsError(TransportError):
    """The TLS handshake failed or the server's certificate or host name did not verify."""

    temporary = False


class AuthenticationError(TransportError):
    """The server refused the credentials."""

    temporary = False


class TransportTimeout(TransportError, TimeoutError):
    """The server did not answer within the configured timeout."""
