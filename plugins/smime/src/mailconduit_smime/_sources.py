"""This plugin's own certificate sources: ``smime.encrypt.files`` and certificates from mail received."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mailconduit import Account, Address, Certificate
from mailconduit_smime._certs import certificate_facts
from mailconduit_smime._keys import AccountKeys
from mailconduit_smime._received import RECEIVED, ReceivedCertificates
from mailconduit_smime._settings import SmimeSettings

__all__ = ["certificates_for", "keys_for"]

_KEYS: dict[tuple[str, int], AccountKeys] = {}


def keys_for(account: Account, settings: SmimeSettings) -> AccountKeys:
    """The account's S/MIME files, loaded once per account and settings object."""
    marker = (account.name, id(settings))
    keys = _KEYS.get(marker)
    if keys is None or keys.settings is not settings:
        keys = _KEYS[marker] = AccountKeys(account.name, settings)
    return keys


def certificates_for(
    addresses: Sequence[Address], account: Account, *, received: ReceivedCertificates = RECEIVED
) -> Mapping[Address, Sequence[Certificate]] | None:
    """Certificates naming each address, from the configured files and from signed mail received."""
    settings = account.section("smime", SmimeSettings)
    if settings is None or settings.encrypt is None:
        return None
    sources = set(settings.encrypt.certificates_from)
    files = (
        [certificate_facts(c, "files") for c in keys_for(account, settings).recipient_files()]
        if "files" in sources
        else []
    )
    answer: dict[Address, list[Certificate]] = {}
    for address in addresses:
        found = [c for c in files if c.names(address)]
        if "received" in sources:
            found.extend(c for c in received.lookup(account.name, address.addr_spec) if c not in found)
        if found:
            answer[address] = found
    return answer or None
