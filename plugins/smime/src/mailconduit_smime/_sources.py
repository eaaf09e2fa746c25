"""This plugin's own certificate source, ``smime.encrypt.files``.

Certificates learnt from validly signed mail received (``certificates_from: [received]``) are not
kept here: the verify transform reports them in ``TransformResult.certificates``, replication
stores them, and the core's built-in ``received`` source offers them to every process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mailconduit import Account, Address, Certificate
from mailconduit_smime._certs import certificate_facts
from mailconduit_smime._keys import AccountKeys
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
    addresses: Sequence[Address], account: Account
) -> Mapping[Address, Sequence[Certificate]] | None:
    """Certificates naming each address from ``encrypt.files`` (when ``certificates_from`` names files)."""
    settings = account.section("smime", SmimeSettings)
    if settings is None or settings.encrypt is None:
        return None
    if "files" not in settings.encrypt.certificates_from:
        return None
    files = [certificate_facts(c, "files") for c in keys_for(account, settings).recipient_files()]
    answer: dict[Address, list[Certificate]] = {}
    for address in addresses:
        found = [c for c in files if c.names(address)]
        if found:
            answer[address] = found
    return answer or None
