"""The backpressure valve and what it measures, without Faust."""

from __future__ import annotations

from faust.types import TP

from streams.runtime.backpressure import Valve, owned, waiting


def test_the_valve_holds_above_the_limit_and_releases_at_half_of_it() -> None:
    valve = Valve(limit=1000)
    assert [valve.update(n) for n in (0, 1000, 1001, 900, 501, 500, 999, 1001)] == [
        False,
        False,
        True,  # above the limit: hold
        True,  # still above half: keep holding (no flapping at the limit)
        True,
        False,  # at half: release
        False,  # below the limit again: keep reading
        True,
    ]


def test_a_limit_of_zero_never_holds() -> None:
    valve = Valve(limit=0)
    assert not any(valve.update(n) for n in (0, 10**6))


def test_waiting_counts_from_each_known_position_to_the_end() -> None:
    a, b, c, d = TP("x", 0), TP("x", 1), TP("y", 0), TP("y", 1)
    assert (
        waiting(
            {a: 100, b: 50, c: None, d: 7},
            {a: 40, b: 50, c: 3, d: None},  # c: end unknown, d: position unknown
        )
        == 60
    )
    assert waiting({a: 10}, {a: 12}) == 0  # a stale high-water mark is not negative


def test_owned_keeps_the_partitions_of_the_named_topics() -> None:
    tps = [TP("in", 0), TP("mid", 0), TP("in", 1), TP("out", 2)]
    assert owned(tps, {"in", "out"}) == [TP("in", 0), TP("in", 1), TP("out", 2)]
