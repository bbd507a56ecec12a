"""Full collections are followed by a freeze of their survivors, and only then."""

from __future__ import annotations

import gc

from streams.runtime.gc_pauses import FreezeAfterFullCollections


def test_survivors_of_a_full_collection_are_frozen_once() -> None:
    try:
        freezer = FreezeAfterFullCollections()
        assert not freezer.check()  # nothing collected since it was made
        kept = [[i] for i in range(1000)]
        before = gc.get_freeze_count()
        gc.collect(1)  # a younger generation: the full-collection pause did not run
        assert not freezer.check()
        gc.collect()
        assert freezer.check()
        assert gc.get_freeze_count() >= before + len(kept)
        assert not freezer.check()  # the same collection freezes once
        assert freezer.freezes == 1
    finally:
        gc.unfreeze()


def test_full_collections_are_timed_into_the_histogram() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from streams.runtime.gc_pauses import PauseClock

    registry = CollectorRegistry()
    seconds = Histogram("pause_seconds", "test", registry=registry)
    PauseClock.install(seconds)
    try:
        gc.collect(0)  # young: not a full collection
        gc.collect()
        gc.collect()
        assert registry.get_sample_value("pause_seconds_count") == 0  # not from the collector
        PauseClock.current.drain()  # type: ignore[union-attr]
        assert registry.get_sample_value("pause_seconds_count") == 2
        PauseClock.install(Histogram("later_seconds", "test", registry=registry))
        assert gc.callbacks.count(PauseClock.callback) == 1  # installed once per process
    finally:
        PauseClock.current = None
