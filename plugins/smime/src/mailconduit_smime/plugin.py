"""Hook implementations of the ``smime`` plugin: the ``smime:`` section, transforms, certificate files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mailconduit import Account, Address, Certificate, RegisterSection, Transform, hookimpl
from mailconduit_smime._settings import SmimeSettings


@hookimpl
def register_config_sections(register: RegisterSection) -> None:
    """Register the per-account ``smime:`` section."""
    register("smime", SmimeSettings)


@hookimpl
def message_transforms(account: Account) -> Iterable[Transform] | None:
    """Sign and encrypt outgoing mail, decrypt and verify incoming mail, as the account's section says."""
    from mailconduit_smime._transforms import transforms_for

    return transforms_for(account)


@hookimpl
def recipient_certificates(
    addresses: Sequence[Address], account: Account
) -> Mapping[Address, Sequence[Certificate]] | None:
    """Offer certificates from ``smime.encrypt.files`` (mail received: the core's ``received`` source)."""
    from mailconduit_smime._sources import certificates_for

    return certificates_for(addresses, account)
