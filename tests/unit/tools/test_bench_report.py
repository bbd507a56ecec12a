"""``make bench``'s verdicts: ratios and issue 17's targets, near the limit included."""

from __future__ import annotations

from streams.tools.bench import report
from streams.tools.bench.runs import LatencyRun, ThroughputRun


def throughput(system: str, events_per_s: float, cpu_ms: float) -> ThroughputRun:
    return ThroughputRun(system, 1000, events_per_s, cpu_ms, 100.0, 7.0)


def latency(system: str, rate: float, p50: float, p99: float) -> LatencyRun:
    return LatencyRun(system, rate, p50, p99, p99 * 1.5, 1000, p99_settled_ms=p99, cores=0.9)


def build(high: list[LatencyRun], runs: list[ThroughputRun] | None = None) -> dict:
    return report.build(
        inputs=1000,
        runs=1,
        rate=200.0,
        throughput=runs
        or [
            throughput("ordertriage", 400.0, 2.0),
            throughput("ceiling", 5000.0, 0.2),
            throughput("peer", 1500.0, 0.2),
        ],
        latency=[latency("ordertriage", 200.0, 15.0, 90.0)],
        digests={"agree": True, "values": ["x"], "detail": ""},
        high_load=0.8,
        high=high,
    )


def test_the_runs_near_the_limit_are_judged_against_their_own_targets() -> None:
    # Medians of the three runs at 80% of the drained rate (400 events/s).
    high = [
        latency("ordertriage", 320.0, p50, p99) for p50, p99 in ((18, 240), (25, 300), (19, 260))
    ]
    result = build(high)

    assert result["high_load"] == {
        "share": 0.8,
        "rate": 320.0,
        "p50_ms": 19.0,
        "p99_ms": 260.0,
        "p99_settled_ms": 260.0,
        "p999_ms": 390.0,
        "cores": 0.9,
    }
    lines = report.targets(result)
    assert "target p50 ms near the limit 19 <= 20: met" in lines
    assert "target p99 ms near the limit 260 <= 250: NOT met" in lines
    assert "target p99 ms 90 <= 100: met" in lines  # half load
    assert "target throughput ordertriage/ceiling 0.08 >= 0.35: NOT met" in lines
    assert "at 80% of its drained rate (320 events/s): p50 19 ms" in report.markdown(result)


def test_without_runs_near_the_limit_nothing_is_claimed_about_them() -> None:
    result = build([])

    assert result["high_load"] is None
    assert not [line for line in report.targets(result) if "near the limit" in line]
    assert "drained rate" not in report.markdown(result)


def test_the_faust_floor_is_set_against_the_ceiling_the_peer_and_ordertriage() -> None:
    result = build(
        [],
        [
            throughput("ordertriage", 400.0, 2.0),
            throughput("ceiling", 5000.0, 0.2),
            throughput("floor", 1000.0, 0.8),
            throughput("peer", 1600.0, 0.2),
        ],
    )

    assert result["ratios"] == {
        "ordertriage/ceiling": 0.08,
        "ordertriage/floor": 0.4,
        "ordertriage/peer": 0.25,
        "floor/ceiling": 0.2,
        "floor/peer": 0.62,
    }
    assert result["cpu_ratios"]["floor/ceiling"] == 4.0
    assert "| floor | 1000 |" in report.markdown(result)
