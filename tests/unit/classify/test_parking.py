"""streams.classify.parking: a parked change gives up only once the created path is drained."""

from __future__ import annotations

from streams.classify.parking import Drain

GRACE = 30.0
STAGES = ("created", "by-customer", "enriched")


def tp(topic: str, partition: int) -> tuple[str, int]:
    return topic, partition


TOPIC = {tp(t, p): t for t in STAGES for p in range(2)}


def offsets(**by_topic: tuple[int, int]) -> dict[tuple[str, int], int]:
    """``created=(end of p0, end of p1)``, ... (underscores for dashes)."""
    return {
        tp(t.replace("_", "-"), p): v for t, pair in by_topic.items() for p, v in enumerate(pair)
    }


def test_nothing_gives_up_before_the_first_epoch_completes() -> None:
    d = Drain(STAGES)
    assert not d.gave_up(parked_at=0.0, grace=GRACE)
    ends = offsets(created=(5, 5), by_customer=(5, 5), enriched=(5, 5))
    d.step(100.0, {}, ends, TOPIC)  # nothing committed yet
    assert d.through is None


def test_an_idle_caught_up_path_drains_at_once_and_gives_up_after_the_grace() -> None:
    d = Drain(STAGES)
    done = offsets(created=(5, 5), by_customer=(5, 5), enriched=(5, 5))
    d.step(100.0, done, done, TOPIC)  # starts the epoch of t=100
    d.step(102.0, done, done, TOPIC)  # every stage committed past its snapshot
    assert d.through == 100.0
    assert not d.gave_up(parked_at=90.0, grace=GRACE)
    for now in (104.0, 106.0, 120.0, 122.0):
        d.step(now, done, done, TOPIC)
    assert d.through == 120.0 and d.gave_up(parked_at=90.0, grace=GRACE)


def test_one_fast_upstream_partition_does_not_drain_a_slow_one() -> None:
    """The case the timestamp watermark got wrong: by-customer p0 is far ahead, p1 has a
    backlog of created orders (whose status changes wait); nothing gives up until p1 and then
    the enriched hop it feeds are committed past their snapshots."""
    d = Drain(STAGES)
    ends = offsets(created=(10, 10), by_customer=(50, 80), enriched=(60, 60))
    behind = offsets(created=(10, 10), by_customer=(50, 20), enriched=(60, 60))
    for now in range(100, 400, 2):
        d.step(float(now), behind, ends, TOPIC)
        assert d.through is None  # stage 2 of the first epoch waits for by-customer p1
    more = offsets(created=(10, 10), by_customer=(50, 80), enriched=(60, 90))
    caught = offsets(created=(10, 10), by_customer=(50, 80), enriched=(60, 60))
    d.step(400.0, caught, more, TOPIC)  # p1 drained: its orders went on to enriched (up to 90)
    assert d.through is None  # the enriched hop has them queued, not applied
    d.step(402.0, more, more, TOPIC)
    # Every epoch queued (t=100, 102, ... while the deque had room) completes at once.
    assert d.through == 100.0 + 2 * (d.depth - 1)


def test_epochs_are_bounded_and_complete_in_order() -> None:
    d = Drain(STAGES, depth=3)
    ends = offsets(created=(1, 1), by_customer=(1, 1), enriched=(1, 1))
    for now in (1.0, 2.0, 3.0, 4.0, 5.0):
        d.step(now, {}, ends, TOPIC)
    assert len(d.epochs) == 3 and [e.started for e in d.epochs] == [1.0, 2.0, 3.0]
    d.step(6.0, ends, ends, TOPIC)
    assert d.through == 3.0
