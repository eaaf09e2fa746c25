"""The replication batch's pause of the cyclic garbage collector (``_replicate._gc_pause``)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from mailconduit._replicate._gc_pause import paused


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_during_a_batch_and_on_after_it_even_when_the_batch_raises() -> None:
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused():
        raise RuntimeError("a batch that fails")
    assert gc.isenabled()


def test_concurrent_batches_turn_it_on_only_when_the_last_one_ends() -> None:
    first_in, first_may_leave = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with paused():
            first_in.set()
            first_may_leave.wait(10)
            seen.append(gc.isenabled())

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with paused():  # a second pipeline's batch, ending before the first's
        pass
    assert not gc.isenabled(), "the second batch turned the collector on under the first"
    first_may_leave.set()
    thread.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_the_application_turned_off_stays_off() -> None:
    gc.disable()
    with paused():
        pass
    assert not gc.isenabled()


def test_overlapping_batches_still_collect_now_and_then(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pipelines whose batches overlap without a break would otherwise never collect again."""
    from mailconduit._replicate import _gc_pause

    monkeypatch.setattr(_gc_pause, "COLLECT_EVERY", 0.0)
    runs: list[str] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(phase)

    gc.callbacks.append(seen)
    try:
        with paused():  # a long batch of one pipeline ...
            with paused():  # ... while another pipeline's batch begins and ends
                pass
            assert runs, "no collection while batches overlapped"
            assert not gc.isenabled()
    finally:
        gc.callbacks.remove(seen)
