"""Run a pipeline: once (``run_pipeline``) or until cancelled (``watch_pipeline``)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from mailconduit._pipeline._build import Pipeline
from mailconduit._plugins import PluginSet
from mailconduit._replicate import replicate, watch
from mailconduit._store import Store
from mailconduit._types import Credentials, RunResult

if TYPE_CHECKING:
    from mailconduit._config import Config

__all__ = ["run_pipeline", "watch_pipeline"]


def run_pipeline(
    pipeline: Pipeline,
    *,
    store: Store,
    plugins: PluginSet,
    config: Config | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Replicate the pipeline's folder once through its steps (``replicate`` with its settings).

    Raises:
        ConfigError, TransportError: as ``replicate``; what was committed is kept.
    """
    return replicate(
        pipeline.account,
        store=store,
        plugins=plugins,
        config=config,
        folder=pipeline.folder,
        cancel=cancel,
        progress=progress,
        steps=pipeline.steps,
        on_error=pipeline.on_error,
        pipeline=pipeline.name,
    )


def watch_pipeline(
    pipeline: Pipeline,
    *,
    store: Store,
    plugins: PluginSet,
    config: Config | None = None,
    cancel: threading.Event | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_login: Callable[[Credentials | None], None] | None = None,
    sleep: Callable[[float], object] | None = None,
    rng: random.Random | None = None,
) -> RunResult:
    """Keep the pipeline running until ``cancel`` is set: IDLE when it subscribes, else polling.

    ``on_result`` gets every run's result, ``on_error`` every error the watch survives
    (reconnects) and ``on_login`` the credentials of every new connection; permanent errors are
    raised as by ``watch``.
    """
    return watch(
        pipeline.account,
        store=store,
        plugins=plugins,
        config=config,
        folder=pipeline.folder,
        cancel=cancel,
        steps=pipeline.steps,
        on_error=pipeline.on_error,
        pipeline=pipeline.name,
        on_result=on_result,
        on_failure=on_error,
        on_login=on_login,
        subscribe=pipeline.receive.subscribe,
        sleep=sleep,
        rng=rng,
    )
