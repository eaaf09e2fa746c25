"""The smime plugin's errors, in mailconduit's tree: what went wrong, where, and what to do."""

from __future__ import annotations

from collections.abc import Mapping

from mailconduit import ConfigError, MessageError

__all__ = ["KeyFileError", "RecipientCertificateError", "SmimeError"]


class SmimeError(MessageError):
    """A message cannot be signed, encrypted, decrypted or verified as asked."""


class KeyFileError(ConfigError):
    """A PKCS#12 file, certificate, trust anchor or CRL configured for an account cannot be read."""

    def __init__(self, account: str, key: str, message: str) -> None:
        super().__init__([(f"accounts.{account}.smime.{key}", message)])


class RecipientCertificateError(SmimeError):
    """Some recipients have no usable certificate, so the message is not sent (nothing in plaintext).

    Attributes:
        problems: ``{address: why}`` for every recipient without a usable certificate.
    """

    def __init__(self, account: str, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        lines = "\n".join(f"  {address}: {why}" for address, why in sorted(self.problems.items()))
        super().__init__(
            f"account {account!r} requires encryption, but {len(self.problems)} recipient(s) have no "
            f"usable certificate; nothing was sent. Publish a valid certificate (LDAP, smime.encrypt.files) "
            f"or remove the recipient:\n{lines}"
        )
