"""The typed ``Hooks`` facade: one method per spec with the spec's arguments, and the core's ordering."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from attrs import frozen

from mailconduit import (
    Account,
    Address,
    Certificate,
    Direction,
    RunInfo,
    RunResult,
    Stage,
    StoredBatch,
    TransformResult,
    hookimpl,
    load_plugins,
)
from mailconduit._plugins import Hooks
from mailconduit.hookspecs import PROJECT_NAME

ACCOUNT = Account(name="acme", email="acme@example.test")
NOW = datetime.now(UTC)


def spec_names() -> list[str]:
    from mailconduit import hookspecs

    return sorted(n for n, o in vars(hookspecs).items() if hasattr(o, f"{PROJECT_NAME}_spec"))


def test_facade_has_one_method_per_spec_with_the_same_argument_names() -> None:
    from mailconduit import hookspecs

    public = {n for n, o in vars(Hooks).items() if callable(o) and not n.startswith("_")}
    assert public == set(spec_names())
    for name in spec_names():
        spec_args = list(inspect.signature(getattr(hookspecs, name)).parameters)
        facade = inspect.signature(getattr(Hooks, name)).parameters
        positional = [
            p.name
            for p in facade.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        assert positional == spec_args, name
        extra = [p for p in facade.values() if p.name != "self" and p.name not in spec_args]
        assert all(p.kind is p.KEYWORD_ONLY for p in extra), f"{name}: extra arguments must be keyword-only"


@frozen
class Step:
    label: str
    direction: Direction
    stage: Stage

    def apply(self, data: bytes) -> TransformResult:
        return TransformResult(data=data + self.label.encode())


class Contributes:
    def __init__(self, *steps: Step) -> None:
        self.steps = steps

    @hookimpl
    def message_transforms(self, account: Account) -> Sequence[Step]:
        return self.steps


ENCRYPT = Step("encrypt", Direction.OUTGOING, Stage.ENCRYPT)
SIGN = Step("sign", Direction.OUTGOING, Stage.SIGN)
VERIFY = Step("verify", Direction.INCOMING, Stage.VERIFY)
DECRYPT = Step("decrypt", Direction.INCOMING, Stage.DECRYPT)


def transforms(*plugins: object, direction: Direction) -> list[str]:
    plugin_set = load_plugins(
        autoload=False, builtins=False, extra=[(f"p{i}", p) for i, p in enumerate(plugins)]
    )
    return [t.label for t in plugin_set.hooks.message_transforms(ACCOUNT, direction=direction)]


def test_sign_runs_before_encrypt_whatever_the_registration_order() -> None:
    assert transforms(Contributes(ENCRYPT), Contributes(SIGN), direction=Direction.OUTGOING) == [
        "sign",
        "encrypt",
    ]
    assert transforms(Contributes(SIGN), Contributes(ENCRYPT), direction=Direction.OUTGOING) == [
        "sign",
        "encrypt",
    ]
    assert transforms(Contributes(ENCRYPT, SIGN), direction=Direction.OUTGOING) == ["sign", "encrypt"]


def test_decrypt_runs_before_verify_and_directions_do_not_mix() -> None:
    plugins = (Contributes(VERIFY, ENCRYPT), Contributes(SIGN, DECRYPT))
    assert transforms(*plugins, direction=Direction.INCOMING) == ["decrypt", "verify"]
    assert transforms(*reversed(plugins), direction=Direction.INCOMING) == ["decrypt", "verify"]
    assert transforms(*plugins, direction=Direction.OUTGOING) == ["sign", "encrypt"]


def test_a_plugin_returning_none_contributes_nothing() -> None:
    class Nothing:
        @hookimpl
        def message_transforms(self, account: Account) -> None:
            return None

    assert transforms(Nothing(), Contributes(SIGN), direction=Direction.OUTGOING) == ["sign"]


def certificate(address: str, source: str) -> Certificate:
    return Certificate(
        der=f"{source}:{address}".encode(),
        subject=f"CN={address}",
        addresses=frozenset({address}),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=1),
        source=source,
    )


class Source:
    def __init__(self, name: str, knows: Sequence[str]) -> None:
        self.name = name
        self.knows = knows

    @hookimpl
    def recipient_certificates(
        self, addresses: Sequence[Address], account: Account
    ) -> dict[Address, list[Certificate]] | None:
        found = {a: [certificate(a.addr_spec, self.name)] for a in addresses if a.addr_spec in self.knows}
        return found or None


def test_recipient_certificates_are_merged_so_no_source_hides_another() -> None:
    bob, carol, dave = Address("bob@x.test"), Address("carol@x.test"), Address("dave@x.test")
    ldap = Source("ldap", ["bob@x.test", "carol@x.test"])
    files = Source("files", ["bob@x.test"])
    shared = certificate("carol@x.test", "ldap")

    class Duplicate:  # a second source returning a certificate equal to one already found
        @hookimpl
        def recipient_certificates(
            self, addresses: Sequence[Address], account: Account
        ) -> dict[Address, list[Certificate]]:
            return {carol: [shared]}

    plugin_set = load_plugins(
        autoload=False, builtins=False, extra=[("ldap", ldap), ("files", files), ("dup", Duplicate())]
    )
    merged = plugin_set.hooks.recipient_certificates([bob, carol, dave], ACCOUNT)
    assert sorted(c.source for c in merged[bob]) == ["files", "ldap"]
    assert merged[carol] == [shared]
    assert merged[dave] == []


def test_lifecycle_hooks_reach_every_plugin_with_keyword_arguments() -> None:
    seen: list[tuple[str, str]] = []

    class Listener:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def after_batch_stored(self, batch: StoredBatch, run: RunInfo) -> None:
            seen.append((self.name, f"batch {run.run_id}"))

        @hookimpl
        def after_run_completed(self, result: RunResult, run: RunInfo) -> None:
            seen.append((self.name, f"done {result.fetched}"))

        @hookimpl
        def on_run_error(self, error: BaseException, run: RunInfo) -> None:
            seen.append((self.name, f"error {error}"))

    hooks = load_plugins(
        autoload=False, builtins=False, extra=[("a", Listener("a")), ("b", Listener("b"))]
    ).hooks
    run = RunInfo(run_id="r1", account="acme", folder="INBOX", protocol="memory", started_at=NOW)
    hooks.after_batch_stored(StoredBatch(messages=(), accepted=frozenset()), run)
    hooks.after_run_completed(RunResult(fetched=3), run)
    hooks.on_run_error(RuntimeError("boom"), run)
    assert sorted(seen) == sorted((n, e) for n in "ab" for e in ("batch r1", "done 3", "error boom"))
