"""Choosing one usable encryption certificate per recipient, with a reason for every one refused.

The core merges what every source offered (LDAP, files, mail received); this module decides which
of those can be encrypted to now: it names the address, is valid now, has a key type this plugin
can encrypt to (RSA, or EC by key agreement), allows that use of the key (keyEncipherment for RSA,
keyAgreement for EC), and is not revoked per the configured CRLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from attrs import define

from mailconduit import Address, Certificate

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["Choice", "choose_certificate", "choose_for_recipients", "refusal"]


@define(frozen=True)
class Choice:
    """The outcome for one recipient: the certificate to use, or why none could be used.

    Attributes:
        certificate: the chosen certificate, or None.
        reasons: why each offered certificate was refused (or that none was offered).
    """

    certificate: Certificate | None
    reasons: tuple[str, ...] = ()

    @property
    def problem(self) -> str:
        """One line for a per-recipient error: every reason, joined."""
        return "; ".join(self.reasons) or "no usable certificate"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _revoked(cert: x509.Certificate, crls: Iterable[x509.CertificateRevocationList]) -> datetime | None:
    for crl in crls:
        if crl.issuer != cert.issuer:
            continue
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            return entry.revocation_date_utc
    return None


def refusal(
    certificate: Certificate,
    address: Address | str,
    *,
    now: datetime,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> str | None:
    """Why ``certificate`` cannot be used to encrypt to ``address`` now, or None when it can."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    where = f"{certificate.source or 'a source'} certificate {certificate.subject!r}"
    if not certificate.names(address):
        names = ", ".join(sorted(certificate.addresses)) or "no address"
        return f"{where} names {names}, not this address"
    if now < certificate.not_before:
        return f"{where} is not valid before {_when(certificate.not_before)}"
    if now > certificate.not_after:
        return f"{where} expired on {_when(certificate.not_after)}"
    cert = x509.load_der_x509_certificate(certificate.der)
    public = cert.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        needed = "keyEncipherment"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        needed = "keyAgreement"
    else:
        kind = type(public).__name__.removeprefix("_")
        return f"{where} has a {kind} key; only RSA and EC keys can be encrypted to"
    if certificate.key_usage and needed not in certificate.key_usage:
        usages = ", ".join(sorted(certificate.key_usage))
        return f"{where} does not allow {needed} (key usage: {usages})"
    revoked = _revoked(cert, crls)
    if revoked is not None:
        return f"{where} was revoked on {_when(revoked)} (configured CRLs)"
    return None


def choose_certificate(
    address: Address | str,
    offered: Sequence[Certificate],
    *,
    now: datetime,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> Choice:
    """Pick the usable certificate for ``address`` that stays valid longest, or say why there is none."""
    if not offered:
        return Choice(None, ("no certificate found (asked every configured source)",))
    usable: list[Certificate] = []
    reasons: list[str] = []
    for certificate in offered:
        why = refusal(certificate, address, now=now, crls=crls)
        if why is None:
            usable.append(certificate)
        else:
            reasons.append(why)
    if not usable:
        return Choice(None, tuple(reasons))
    return Choice(max(usable, key=lambda c: c.not_after))


def choose_for_recipients(
    offered: Mapping[Address, Sequence[Certificate]],
    *,
    now: datetime,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> tuple[dict[Address, Certificate], dict[str, str]]:
    """Choose per recipient; return the chosen certificates and ``{address: problem}`` for the rest."""
    chosen: dict[Address, Certificate] = {}
    problems: dict[str, str] = {}
    for address, certificates in offered.items():
        choice = choose_certificate(address, certificates, now=now, crls=crls)
        if choice.certificate is not None:
            chosen[address] = choice.certificate
        else:
            problems[address.addr_spec] = choice.problem
    return chosen, problems
