"""The smime transforms pass the TransformContract; its file source passes the CertificateSourceContract."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailconduit import Account, Address, Transform
from mailconduit.testing import CertificateSourceContract, TransformContract
from mailconduit_smime import (
    DecryptTransform,
    EncryptSettings,
    SignTransform,
    VerifyTransform,
    plugin,
    transforms_for,
)

from .conftest import Identity, MakeAccount, message


def _of(account: Account, kind: type) -> Transform:
    found: Transform = next(t for t in transforms_for(account) if isinstance(t, kind))
    return found


class TestSign(TransformContract):
    @pytest.fixture
    def transform(self, make_account: MakeAccount, alice: Identity) -> Transform:
        return _of(make_account(alice), SignTransform)


class TestEncrypt(TransformContract):
    @pytest.fixture
    def transform(
        self, make_account: MakeAccount, alice: Identity, bob: Identity, tmp_path: Path
    ) -> Transform:
        account = make_account(
            alice, encrypt=EncryptSettings(certificates_from=("files",), files=str(bob.cert_pem))
        )
        from mailconduit_smime import EncryptTransform

        encrypt = _of(account, EncryptTransform)
        assert isinstance(encrypt, EncryptTransform)
        encrypt._lookup = lambda addresses: plugin.recipient_certificates(addresses, account) or {}
        return encrypt

    @pytest.fixture
    def sample(self) -> bytes:
        return message(to="bob@example.test")


class TestDecrypt(TransformContract):
    @pytest.fixture
    def transform(self, make_account: MakeAccount, bob: Identity) -> Transform:
        return _of(make_account(bob), DecryptTransform)

    @pytest.fixture
    def sample(self, make_account: MakeAccount, alice: Identity, bob: Identity) -> bytes:
        from mailconduit_smime._encrypt import encrypt_message

        return encrypt_message(message(), [bob.cert])


class TestVerify(TransformContract):
    @pytest.fixture
    def transform(self, make_account: MakeAccount) -> Transform:
        return _of(make_account(None), VerifyTransform)

    @pytest.fixture
    def sample(self, alice: Identity) -> bytes:
        from mailconduit_smime._sign import sign_message

        return sign_message(message(), alice.key, alice.cert)


class TestFilesSource(CertificateSourceContract):
    @pytest.fixture
    def source(self) -> object:
        return plugin

    @pytest.fixture
    def known_address(self) -> Address:
        return Address("bob@example.test")

    @pytest.fixture
    def account(self, make_account: MakeAccount, bob: Identity) -> Account:
        return make_account(None, encrypt=EncryptSettings(files=str(bob.cert_pem.parent)))
