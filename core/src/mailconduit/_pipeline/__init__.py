"""YAML pipelines: which account and folder, the steps every message goes through, and replay.

A ``pipelines:`` entry becomes a :class:`Pipeline` (the account with the pipeline's overrides of its
receive settings, the steps and the ``on_error`` steps). ``run_pipeline`` replicates it once,
``watch_pipeline`` keeps it running (IDLE or polling), ``replay`` runs its steps again on a message
already stored. The long-running service that runs every pipeline is ``mailconduit._runner``.
"""

from __future__ import annotations

from mailconduit._pipeline._build import Pipeline, pipeline_named, pipelines_of
from mailconduit._pipeline._replay import ReplayResult, replay
from mailconduit._pipeline._run import run_pipeline, watch_pipeline

__all__ = [
    "Pipeline",
    "ReplayResult",
    "pipeline_named",
    "pipelines_of",
    "replay",
    "run_pipeline",
    "watch_pipeline",
]
