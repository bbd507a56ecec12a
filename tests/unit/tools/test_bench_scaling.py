"""``make bench-scaling``'s memory per order: the RSS over the same start's with no orders."""

from __future__ import annotations

from streams.tools.bench.scaling import add_memory_per_order


def test_memory_per_order_is_measured_against_the_same_start_with_no_orders() -> None:
    rows = [
        {"orders": 0, "store": "rocksdb", "phase": "new machine", "rss_mib": 200.0},
        {"orders": 0, "store": "rocksdb", "phase": "clean restart", "rss_mib": 210.0},
        {"orders": 1000, "store": "rocksdb", "phase": "new machine", "rss_mib": 201.0},
        {"orders": 1000, "store": "rocksdb", "phase": "clean restart", "rss_mib": 210.5},
        {"orders": 1000, "store": "memory", "phase": "every start", "rss_mib": 300.0},
    ]
    add_memory_per_order(rows)
    assert [r["kib_per_order"] for r in rows] == [None, None, 1.02, 0.51, None]
