"""From the ``pipelines:`` section to runnable pipelines (pure: no store, no server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from attrs import define

from mailconduit._errors import ConfigError
from mailconduit._model import Account, ReceiveSettings

if TYPE_CHECKING:
    from mailconduit._config import Config, PipelineSettings, PipelineStep
    from mailconduit._replicate._run import StepSpec

__all__ = ["Pipeline", "pipeline_named", "pipelines_of"]


def _spec(step: PipelineStep) -> StepSpec:
    return step.name if step.settings is None else (step.name, step.settings)


@define(frozen=True, kw_only=True)
class Pipeline:
    """A configured pipeline, ready to run.

    Attributes:
        name: its key under ``pipelines:``.
        account: the receiving account, its receive settings overridden by the pipeline's.
        steps: the per-message steps: action names or ``(name, settings)`` pairs.
        on_error: the steps run for a message the steps did not accept.
        settings: the ``pipelines:`` entry it was built from.
    """

    name: str
    account: Account
    steps: tuple[StepSpec, ...]
    on_error: tuple[StepSpec, ...]
    settings: PipelineSettings

    @property
    def receive(self) -> ReceiveSettings:
        """The effective receive settings (the account's, with the pipeline's overrides)."""
        assert self.account.receive is not None  # checked when built
        return self.account.receive

    @property
    def folder(self) -> str:
        """The folder it replicates."""
        return self.receive.effective_folder

    @property
    def interval(self) -> float:
        """Seconds between runs when nothing wakes it: the IDLE refresh, or the polling interval."""
        receive = self.receive
        return (receive.idle_refresh if receive.subscribe else receive.poll_every).total_seconds()


def _build(name: str, settings: PipelineSettings, config: Config) -> Pipeline:
    account = config.account(settings.receive)
    if account.receive is None:
        raise ConfigError(
            [(f"pipelines.{name}.receive", f"account {account.name!r} has no receive: section to replicate")]
        )
    receive = settings.apply_to(account.receive)
    return Pipeline(
        name=name,
        account=attrs.evolve(account, receive=receive),
        steps=tuple(_spec(s) for s in settings.steps),
        on_error=tuple(_spec(s) for s in settings.on_error),
        settings=settings,
    )


def pipelines_of(config: Config) -> list[Pipeline]:
    """Every pipeline of ``config``, in the order the YAML lists them.

    Raises:
        ConfigError: a pipeline's account cannot receive mail (every such pipeline is named).
    """
    built: list[Pipeline] = []
    problems: list[tuple[str, str]] = []
    for name, settings in config.pipelines.items():
        try:
            built.append(_build(name, settings, config))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return built


def pipeline_named(config: Config, name: str) -> Pipeline:
    """The pipeline ``name``.

    Raises:
        LookupError: no such pipeline; the message lists the configured ones.
    """
    settings = config.pipelines.get(name)
    if settings is None:
        known = ", ".join(sorted(config.pipelines)) or "none"
        raise LookupError(f"no pipeline {name!r} in the configuration; pipelines: {known}")
    return _build(name, settings, config)
