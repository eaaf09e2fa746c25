"""The status report in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

from collections.abc import Iterable

from mailconduit._runner._status import StatusReport

__all__ = ["render_metrics"]


def _label(value: str | None) -> str:
    text = value or ""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{{{labels}}} {value:g}" if labels else f"{name} {value:g}" for labels, value in samples]
    return lines


def render_metrics(report: StatusReport) -> str:
    """Gauges and counters per pipeline and per sending account."""
    now = report.generated_at
    pipes = [(f'pipeline="{_label(p.name)}",account="{_label(p.account)}"', p) for p in report.pipelines]
    lines: list[str] = []
    lines += _family(
        "mailconduit_pipeline_healthy",
        "gauge",
        "1 when the pipeline ran successfully recently",
        [(labels, 1.0 if p.healthy else 0.0) for labels, p in pipes],
    )
    lines += _family(
        "mailconduit_pipeline_idle",
        "gauge",
        "1 when the pipeline waits with IMAP IDLE, 0 when polling",
        [(labels, 1.0 if p.mode == "idle" else 0.0) for labels, p in pipes if p.mode],
    )
    lines += _family(
        "mailconduit_pipeline_lag_messages",
        "gauge",
        "messages on the server not yet stored (last run)",
        [(labels, float(p.lag)) for labels, p in pipes if p.lag is not None],
    )
    lines += _family(
        "mailconduit_pipeline_seconds_since_success",
        "gauge",
        "seconds since the last successful run",
        [(labels, (now - p.last_success_at).total_seconds()) for labels, p in pipes if p.last_success_at],
    )
    lines += _family(
        "mailconduit_pipeline_runs_total",
        "counter",
        "runs completed",
        [(labels, float(p.runs)) for labels, p in pipes],
    )
    lines += _family(
        "mailconduit_pipeline_messages_total",
        "counter",
        "messages processed by completed runs",
        [(labels, float(p.processed)) for labels, p in pipes],
    )
    lines += _family(
        "mailconduit_pipeline_failed_messages_total",
        "counter",
        "messages a step did not accept",
        [(labels, float(p.failed)) for labels, p in pipes],
    )
    lines += _family(
        "mailconduit_token_seconds_to_expiry",
        "gauge",
        "seconds until the pipeline's bearer token lapses",
        [(labels, (p.token_expires_at - now).total_seconds()) for labels, p in pipes if p.token_expires_at],
    )
    boxes = [(f'account="{_label(o.account)}"', o) for o in report.outboxes]
    lines += _family(
        "mailconduit_outbox_queued_messages",
        "gauge",
        "messages waiting in the outbox",
        [(labels, float(o.queued)) for labels, o in boxes],
    )
    lines += _family(
        "mailconduit_outbox_failed_messages",
        "gauge",
        "messages the outbox failed for good",
        [(labels, float(o.failed)) for labels, o in boxes],
    )
    lines += _family(
        "mailconduit_outbox_oldest_age_seconds",
        "gauge",
        "age of the oldest queued message",
        [(labels, o.oldest_age_seconds) for labels, o in boxes if o.oldest_age_seconds is not None],
    )
    lines += _family(
        "mailconduit_healthy",
        "gauge",
        "1 when every pipeline is healthy",
        [("", 1.0 if report.healthy else 0.0)],
    )
    return "\n".join(lines) + "\n"
