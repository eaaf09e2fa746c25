"""mailconduit-smime: S/MIME signing, encryption, decryption and verification for mailconduit accounts.

Installed, it registers itself through the ``mailconduit.plugins`` entry point. An account opts in
with an ``smime:`` section::

    smime:
      sign: {pkcs12: certs/support.p12, passphrase: ${env:P12_PASS}}
      encrypt: {certificates_from: [ldap, files], files: certs/recipients/}
      require_encryption: true
      trust_anchors: certs/trust/
      crls: certs/crl/

The transforms are pure ``bytes -> bytes`` (``SignTransform``, ``EncryptTransform``,
``DecryptTransform``, ``VerifyTransform``); ``message_transforms(account)`` builds them for the
core. cryptography and asn1crypto are imported only when a message is transformed.
"""

from __future__ import annotations

from mailconduit_smime._choose import Choice, choose_certificate, choose_for_recipients
from mailconduit_smime._errors import KeyFileError, RecipientCertificateError, SmimeError
from mailconduit_smime._keys import AccountKeys
from mailconduit_smime._settings import EncryptSettings, SignSettings, SmimeSettings
from mailconduit_smime._transforms import (
    DecryptTransform,
    EncryptTransform,
    SignTransform,
    VerifyTransform,
    recipients_of,
    transforms_for,
)

__all__ = [
    "AccountKeys",
    "Choice",
    "DecryptTransform",
    "EncryptSettings",
    "EncryptTransform",
    "KeyFileError",
    "RecipientCertificateError",
    "SignSettings",
    "SignTransform",
    "SmimeError",
    "SmimeSettings",
    "VerifyTransform",
    "choose_certificate",
    "choose_for_recipients",
    "recipients_of",
    "transforms_for",
]
__version__ = "0.1.0"
