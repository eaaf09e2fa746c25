"""The ``smime:`` section of an account: signing key, encryption sources, trust anchors and CRLs."""

from __future__ import annotations

from typing import Literal

from attrs import define, field

from mailconduit import Secret

__all__ = ["CertificateSourceName", "EncryptSettings", "SignSettings", "SmimeSettings"]

CertificateSourceName = Literal["ldap", "files", "received"]
"""Where recipient certificates may come from: the LDAP plugin, ``encrypt.files``, signed mail received."""


@define(frozen=True, kw_only=True)
class SignSettings:
    """``smime.sign``: the account's own key and certificate.

    Attributes:
        pkcs12: path of the PKCS#12 file (modern AES or legacy 3DES/RC2 encryption both load).
        passphrase: its passphrase, as a secret reference (``${env:P12_PASS}``); None when unencrypted.
        opaque: sign as ``application/pkcs7-mime; smime-type=signed-data`` instead of the default
            detached ``multipart/signed`` (which every client can read, even without S/MIME).
    """

    pkcs12: str
    passphrase: Secret | None = field(default=None, repr=False)
    opaque: bool = False


@define(frozen=True, kw_only=True)
class EncryptSettings:
    """``smime.encrypt``: where recipient certificates come from.

    Attributes:
        certificates_from: the sources to use, in any order (``ldap``, ``files``, ``received``).
        files: a certificate file or a folder of them (PEM or DER, ``.pem``/``.crt``/``.cer``/``.der``).
    """

    certificates_from: tuple[CertificateSourceName, ...] = ("ldap", "files", "received")
    files: str | None = None


@define(frozen=True, kw_only=True)
class SmimeSettings:
    """An account's ``smime:`` section.

    Attributes:
        sign: the signing key; also the key incoming encrypted mail is opened with.
        encrypt: set to encrypt outgoing mail for its recipients (and the sender's own certificate).
        require_encryption: True: a message with any recipient lacking a usable certificate is
            refused, never sent in plaintext.
        trust_anchors: a CA certificate file or folder that incoming signatures must chain to.
        crls: a CRL file or folder (PEM or DER) checked for every recipient certificate used.
    """

    sign: SignSettings | None = None
    encrypt: EncryptSettings | None = None
    require_encryption: bool = False
    trust_anchors: str | None = None
    crls: str | None = None
