"""The four S/MIME transforms: SIGN and ENCRYPT outgoing, DECRYPT and VERIFY incoming (bytes -> bytes).

Outgoing transforms raise when they cannot do what the account requires (no plaintext ever leaves
when encryption is required); incoming ones never raise for a message's content: they keep the
bytes and record what they found in the annotations.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable, Mapping, Sequence

from mailconduit import Account, Address, Certificate, Direction, Stage, TransformResult, load_plugins
from mailconduit_smime._entity import header_value
from mailconduit_smime._errors import KeyFileError, RecipientCertificateError, SmimeError
from mailconduit_smime._keys import AccountKeys

__all__ = [
    "CertificateLookup",
    "DecryptTransform",
    "EncryptTransform",
    "SignTransform",
    "VerifyTransform",
    "recipients_of",
    "transforms_for",
]

CertificateLookup = Callable[[Sequence[Address]], Mapping[Address, Sequence[Certificate]]]
"""``lookup(addresses) -> {address: certificates}``: every source's offer, merged per address."""


def recipients_of(data: bytes) -> list[Address]:
    """The distinct addresses of the To, Cc and Bcc headers, in order (addr-spec only)."""
    values = [v for name in ("To", "Cc", "Bcc") if (v := header_value(data, name))]
    seen: dict[str, Address] = {}
    for _name, addr in email.utils.getaddresses(values):
        if "@" in addr and addr.lower() not in seen:
            seen[addr.lower()] = Address(addr)
    return list(seen.values())


class SignTransform:
    """Signs outgoing mail with the account's PKCS#12 key (detached unless ``sign.opaque``)."""

    direction = Direction.OUTGOING
    stage = Stage.SIGN

    def __init__(self, keys: AccountKeys) -> None:
        """Sign with ``keys.signing()``."""
        self.keys = keys

    def apply(self, data: bytes) -> TransformResult:
        """Return the signed message; raises ``KeyFileError`` when the key cannot be loaded."""
        from mailconduit_smime._sign import sign_message

        key, cert, chain = self.keys.signing()
        sign = self.keys.settings.sign
        opaque = bool(sign and sign.opaque)
        signed = sign_message(bytes(data), key, cert, chain, opaque=opaque)
        signer = cert.subject.rfc4514_string()
        return TransformResult(
            data=signed,
            annotations={"smime.signed": "opaque" if opaque else "detached", "smime.signer": signer},
        )


class EncryptTransform:
    """Encrypts outgoing mail for every recipient and the sender (AES-256; RSA or EC recipient keys).

    Recipients are the envelope's when the core passes them (``apply(data, recipients=...)``: the
    outbox does, so Bcc recipients, who are not in the bytes, are encrypted to as well); otherwise
    the To, Cc and Bcc headers. When a recipient has no usable certificate and encryption is
    required, :meth:`apply` raises ``RecipientCertificateError`` listing every such recipient;
    otherwise the message goes on unencrypted and the annotations say why.
    """

    direction = Direction.OUTGOING
    stage = Stage.ENCRYPT

    def __init__(
        self,
        account: Account,
        keys: AccountKeys,
        *,
        lookup: CertificateLookup | None = None,
        required: bool | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        """Encrypt for ``account``.

        Args:
            account: the sending account.
            keys: its S/MIME files (its own certificate joins the recipients; CRLs are checked).
            lookup: where certificates come from; default the core's plugin set's merged
                ``recipient_certificates`` (handed over by :meth:`bind_certificates`), else
                every installed plugin's.
            required: refuse to send unencrypted; default ``smime.require_encryption``.
            clock: the current time (UTC), for validity checks.
        """
        self.account = account
        self.keys = keys
        self.required = keys.settings.require_encryption if required is None else required
        self._lookup = lookup
        self._lookup_given = lookup is not None
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def bind_certificates(self, lookup: CertificateLookup) -> None:
        """Ask ``lookup`` (the core's merged sources, the store's ``received`` one included).

        The core calls this when it collects transforms; a ``lookup`` given to the constructor wins.
        """
        if not self._lookup_given:
            self._lookup = lookup

    def _offers(self, recipients: Sequence[Address]) -> Mapping[Address, Sequence[Certificate]]:
        if self._lookup is None:
            plugins = load_plugins()
            self._lookup = lambda addresses: plugins.hooks.recipient_certificates(addresses, self.account)
        offered = self._lookup(recipients)
        encrypt = self.keys.settings.encrypt
        allowed = set(encrypt.certificates_from) if encrypt is not None else {"ldap", "files", "received"}
        return {a: [c for c in offered.get(a, ()) if not c.source or c.source in allowed] for a in recipients}

    def apply(self, data: bytes, *, recipients: Sequence[Address] | None = None) -> TransformResult:
        """Encrypt for ``recipients`` (the envelope's, Bcc included) or, without them, the headers'.

        Args:
            data: the message.
            recipients: every envelope recipient, as the outbox passes them; None reads the To,
                Cc and Bcc headers instead.
        """
        if recipients is None:
            recipients = recipients_of(bytes(data))
        return self.apply_for(data, recipients)

    def apply_for(self, data: bytes, recipients: Sequence[Address]) -> TransformResult:
        """Encrypt ``data`` for ``recipients`` (the envelope's, Bcc included) and the sender."""
        from mailconduit_smime._certs import to_x509
        from mailconduit_smime._choose import choose_for_recipients
        from mailconduit_smime._encrypt import encrypt_message

        recipients = [Address(r.addr_spec) for r in recipients]
        if not recipients:
            problems = {"(none)": "the message names no recipient (To, Cc, Bcc)"}
            chosen: dict[Address, Certificate] = {}
        else:
            chosen, problems = choose_for_recipients(
                self._offers(recipients), now=self._clock(), crls=self.keys.crls()
            )
        if problems:
            if self.required:
                raise RecipientCertificateError(self.account.name, problems)
            notes = {f"smime.recipient_error.{addr}": why for addr, why in problems.items()}
            return TransformResult(data=bytes(data), annotations={"smime.encrypted": "no", **notes})
        certificates = [to_x509(c) for c in chosen.values()]
        if self.keys.settings.sign is not None:
            own = self.keys.signing()[1]
            if own not in certificates:
                certificates.append(own)
        encrypted = encrypt_message(bytes(data), certificates)
        names = ", ".join(sorted(a.addr_spec for a in chosen))
        return TransformResult(
            data=encrypted,
            annotations={"smime.encrypted": "yes", "smime.cipher": "AES-256-CBC", "smime.recipients": names},
        )


class DecryptTransform:
    """Opens incoming encrypted mail with the account's key; records the outcome, never raises for it."""

    direction = Direction.INCOMING
    stage = Stage.DECRYPT

    def __init__(self, keys: AccountKeys) -> None:
        """Decrypt with ``keys.signing()``'s key."""
        self.keys = keys

    def apply(self, data: bytes) -> TransformResult:
        """Return the decrypted message (outer headers + decrypted entity), or the input and why not."""
        from mailconduit_smime._decrypt import decrypt_message, find_enveloped

        raw = bytes(data)
        if find_enveloped(raw) is None:
            return TransformResult(data=raw, annotations={"smime.encrypted": "no"})
        try:
            key, cert, _chain = self.keys.signing()
            opened = decrypt_message(raw, key, cert)
        except (SmimeError, KeyFileError) as exc:
            return TransformResult(
                data=raw,
                annotations={
                    "smime.encrypted": "yes",
                    "smime.decrypted": "no",
                    "smime.decrypt_error": str(exc),
                },
            )
        notes = {"smime.encrypted": "yes", "smime.decrypted": "yes", "smime.cipher": opened.cipher}
        if opened.key_method:
            notes["smime.key_method"] = opened.key_method
        if opened.part:
            notes["smime.decrypted_part"] = opened.part
            notes["smime.unencrypted_parts_left_out"] = str(opened.other_parts)
        return TransformResult(data=opened.data, annotations=notes)


class VerifyTransform:
    """Verifies incoming signatures against the trust anchors; records signer, validity and trust.

    ``smime.verified`` is ``yes`` only when the signature is intact and the signer chains to a
    trust anchor; ``smime.signature`` (intact or not) and ``smime.chain`` say which part failed.
    When it is ``yes`` and the signer certificate names the From address, that certificate is
    returned in ``TransformResult.certificates`` (source ``received``): replication stores it and
    the core's ``received`` source offers it for encrypting to that address later.
    """

    direction = Direction.INCOMING
    stage = Stage.VERIFY

    def __init__(self, keys: AccountKeys, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        """Verify against ``keys``' trust anchors at ``clock()`` (default: the signing time)."""
        self.keys = keys
        self._clock = clock

    def apply(self, data: bytes) -> TransformResult:
        """Return the bytes (opaque signed content unwrapped when intact) and what was found."""
        from mailconduit_smime._certs import certificate_facts
        from mailconduit_smime._entity import join, split
        from mailconduit_smime._verify import verify_message

        raw = bytes(data)
        try:
            anchors = self.keys.trust_anchors()
        except KeyFileError as exc:
            return TransformResult(
                data=raw, annotations={"smime.signed": "unknown", "smime.verify_error": str(exc)}
            )
        found = verify_message(raw, anchors, now=self._clock() if self._clock else None)
        if found is None:
            return TransformResult(data=raw, annotations={"smime.signed": "no"})
        notes = {"smime.signed": "opaque" if found.opaque else "detached"}
        notes["smime.signature"] = "valid" if found.intact else "invalid"
        if found.problem:
            notes["smime.signature_error"] = found.problem
        if found.signer is not None:
            notes["smime.signer"] = ", ".join(found.signer_addresses) or found.signer.subject.rfc4514_string()
            notes["smime.signer_subject"] = found.signer.subject.rfc4514_string()
        if found.signing_time is not None:
            notes["smime.signing_time"] = found.signing_time.isoformat()
        notes["smime.verified"] = "yes" if found.intact and found.trusted else "no"
        if not found.intact:
            return TransformResult(data=raw, annotations=notes)
        notes["smime.chain"] = "trusted" if found.trusted else "untrusted"
        if found.chain_problem:
            notes["smime.chain_error"] = found.chain_problem
        sender = email.utils.parseaddr(header_value(raw, "From") or "")[1].lower()
        matches = bool(sender) and sender in {a.lower() for a in found.signer_addresses}
        notes["smime.signer_matches_from"] = "yes" if matches else "no"
        learnt = (
            [certificate_facts(found.signer, "received")]
            if found.trusted and matches and found.signer is not None
            else []
        )
        if found.opaque:
            return TransformResult(
                data=join(split(raw)[0], found.content), annotations=notes, certificates=learnt
            )
        return TransformResult(data=raw, annotations=notes, certificates=learnt)


def transforms_for(
    account: Account,
) -> list[SignTransform | EncryptTransform | DecryptTransform | VerifyTransform]:
    """The transforms the account's ``smime:`` section asks for (none without the section).

    SIGN when ``sign`` is set, ENCRYPT when ``encrypt`` is set, DECRYPT when a key is there to open
    mail with, and VERIFY always.
    """
    from mailconduit_smime._settings import SmimeSettings
    from mailconduit_smime._sources import keys_for

    settings = account.section("smime", SmimeSettings)
    if settings is None:
        return []
    keys = keys_for(account, settings)
    found: list[SignTransform | EncryptTransform | DecryptTransform | VerifyTransform] = []
    if settings.sign is not None:
        found.append(SignTransform(keys))
    if settings.encrypt is not None:
        found.append(EncryptTransform(account, keys))
    if settings.sign is not None:
        found.append(DecryptTransform(keys))
    found.append(VerifyTransform(keys))
    return found
