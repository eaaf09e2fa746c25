"""An account's S/MIME material loaded from its settings: key, certificate, trust anchors, CRLs.

Loaded on first use and kept (the transforms are built per account); every failure is a
``KeyFileError`` naming the setting, never the passphrase.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from mailconduit_smime._certs import load_certificates, load_crls, load_pkcs12
from mailconduit_smime._errors import KeyFileError
from mailconduit_smime._settings import SmimeSettings

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["AccountKeys"]


class AccountKeys:
    """The S/MIME files of one account, read once on first use."""

    def __init__(self, account: str, settings: SmimeSettings) -> None:
        """Keep where the files are; nothing is read yet."""
        self.account = account
        self.settings = settings
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}

    def _once(self, name: str, load: Any) -> Any:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = load()
            return self._cache[name]

    def signing(self) -> tuple[PrivateKeyTypes, x509.Certificate, list[x509.Certificate]]:
        """The key, certificate and chain of ``smime.sign.pkcs12``.

        Raises:
            KeyFileError: no ``sign`` section, or the file cannot be read or opened.
        """
        sign = self.settings.sign
        if sign is None:
            raise KeyFileError(
                self.account, "sign", "no key configured: set sign: {pkcs12: ..., passphrase: ...}"
            )

        def load() -> Any:
            try:
                return load_pkcs12(sign.pkcs12, sign.passphrase)
            except (OSError, ValueError) as exc:
                raise KeyFileError(self.account, "sign.pkcs12", str(exc)) from None

        result: tuple[PrivateKeyTypes, x509.Certificate, list[x509.Certificate]] = self._once("sign", load)
        return result

    def trust_anchors(self) -> list[x509.Certificate]:
        """The certificates of ``smime.trust_anchors`` (empty when unset)."""
        path = self.settings.trust_anchors

        def load() -> list[x509.Certificate]:
            if path is None:
                return []
            try:
                return load_certificates(path)
            except (OSError, ValueError) as exc:
                raise KeyFileError(self.account, "trust_anchors", str(exc)) from None

        anchors: list[x509.Certificate] = self._once("anchors", load)
        return anchors

    def crls(self) -> list[x509.CertificateRevocationList]:
        """The CRLs of ``smime.crls`` (empty when unset)."""
        path = self.settings.crls

        def load() -> list[x509.CertificateRevocationList]:
            if path is None:
                return []
            try:
                return load_crls(path)
            except (OSError, ValueError) as exc:
                raise KeyFileError(self.account, "crls", str(exc)) from None

        crls: list[x509.CertificateRevocationList] = self._once("crls", load)
        return crls

    def recipient_files(self) -> list[x509.Certificate]:
        """The certificates of ``smime.encrypt.files`` (empty when unset)."""
        encrypt = self.settings.encrypt
        path = encrypt.files if encrypt is not None else None

        def load() -> list[x509.Certificate]:
            if path is None:
                return []
            try:
                return load_certificates(path)
            except (OSError, ValueError) as exc:
                raise KeyFileError(self.account, "encrypt.files", str(exc)) from None

        files: list[x509.Certificate] = self._once("files", load)
        return files
