"""streams.runtime.progress: lag without commits is a stall; lag with commits, or no lag, is not."""

from __future__ import annotations

from streams.runtime.progress import Progress


def test_a_partition_with_lag_and_no_commits_stalls() -> None:
    p = Progress()
    p.observe(0, {"a": (10, 20), "b": (5, 5)})
    p.observe(30, {"a": (10, 25), "b": (5, 5)})
    assert p.lag == 15 and p.stalled_seconds(30) == 30


def test_commits_or_no_lag_are_progress() -> None:
    p = Progress()
    p.observe(0, {"a": (10, 20)})
    p.observe(30, {"a": (11, 20)})  # moved
    assert p.stalled_seconds(30) == 0
    p.observe(60, {"a": (20, 20)})  # caught up, then idle for long
    p.observe(600, {"a": (20, 20)})
    assert p.lag == 0 and p.stalled_seconds(600) == 0


def test_unknown_offsets_and_rebalances_do_not_stall() -> None:
    p = Progress()
    p.observe(0, {"a": (None, None)})
    p.observe(100, {"a": (None, None)})
    assert p.stalled_seconds(100) == 0
    p.observe(100, {"b": (0, 7)})
    p.observe(200, {"b": (0, 7)})
    p.reset(200)
    assert p.stalled_seconds(200) == 0
    assert p.stalled_seconds(260) == 60


def test_one_partition_left_behind_while_its_topic_moves_is_no_stall() -> None:
    from faust.types import TP

    p = Progress()
    p.observe(0, {TP("in", 0): (0, 100), TP("in", 1): (0, 100), TP("ticks", 0): (5, 5)})
    p.observe(90, {TP("in", 0): (50, 100), TP("in", 1): (0, 100), TP("ticks", 0): (5, 5)})
    assert p.stalled_seconds(90) == 0  # "in" moved on partition 0
    p.observe(200, {TP("in", 0): (50, 100), TP("in", 1): (0, 100), TP("ticks", 0): (6, 9)})
    assert p.stalled_seconds(200) == 110  # neither partition of "in" moved since 90


def test_stuck_partitions_stall_even_when_their_drained_siblings_are_idle() -> None:
    from faust.types import TP

    p = Progress()
    stuck = {TP("in", n): (300, 1700) for n in (0, 2, 3)}
    p.observe(0, {**stuck, TP("in", 1): (1885, 1885)})
    p.observe(90, {**stuck, TP("in", 1): (1885, 1885)})
    assert p.stalled_seconds(90) == 90  # partition 1 has nothing to do: no evidence of life


def test_partitions_held_by_backpressure_do_not_stall_until_released() -> None:
    p = Progress()
    p.observe(0, {"in": (10, 90)}, held={"in"})
    p.observe(300, {"in": (10, 95)}, held={"in"})  # not read on purpose
    assert p.lag == 85 and p.stalled_seconds(300) == 0
    p.observe(310, {"in": (10, 95)})  # released, and still nothing committed
    assert p.stalled_seconds(400) == 100
