"""K3: a Secret never shows its value in repr, str, format, dumps or pickles."""

from __future__ import annotations

import json
import pickle

import attrs
import pytest

from mailconduit import Account, Credentials, PasswordAuth, Secret
from mailconduit.testing import canary


def test_secret_hides_its_value_everywhere() -> None:
    value = canary("password")
    secret = Secret(value, source="env:PW")
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>40}", "%s" % secret]  # noqa: UP031
    assert all(value not in text for text in shown)
    assert repr(secret) == "Secret(*** from env:PW)"
    assert secret.reveal() == value
    assert secret == Secret(value) and secret != Secret(value + "x")


def test_secret_refuses_pickling() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(canary("password")))


def test_secret_rejects_non_text() -> None:
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_model_types_holding_secrets_are_redacted() -> None:
    value = canary("password")
    auth = PasswordAuth(username="alice", password=Secret(value))
    account = Account(name="support", email="support@example.test", auth=auth)
    credentials = Credentials(kind="password", username="alice", secret=Secret(value))
    for obj in (auth, account, credentials):
        assert value not in repr(obj)
        assert value not in str(obj)
        assert value not in json.dumps(attrs.asdict(obj, recurse=True), default=str)
