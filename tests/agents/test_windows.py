"""Analytics windows: counted and published by the insight agent on its ticks."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from schemas.events import AnalyticsWindow
from streams.classify import analytics
from tests.agents.builders import (
    CLASSIFIED,
    ENRICHED,
    INSIGHT,
    INSIGHT_TICKS,
    ORDER_BOOK,
    enriched,
    tick,
    wire,
)
from tests.agents.conftest import (
    LATENESS_SECONDS,
    WINDOW_SECONDS,
    Outputs,
    deliver,
    ot,
)

pytestmark = pytest.mark.timeout(30)


async def test_counts_made_while_a_window_is_published_are_kept(outputs: Outputs) -> None:
    """Counts written while a window is being published (an await) survive the publish: the
    tick must not write back the copy it read (with RocksDB, ``get`` returns a copy)."""
    start = analytics.window_start(time.time() - 3600, WINDOW_SECONDS)
    window = analytics.WindowState(window_seconds=WINDOW_SECONDS, start=start, partition=0)
    window.events, window.revision = 1, 1
    ot.tables.windows.data[window.key] = window

    async def count_during_send(**kwargs: object) -> None:
        later = window.model_copy(deep=True)
        later.events, later.revision, later.last_offset = 2, 2, 7
        ot.tables.windows.data[window.key] = later

    outputs.analytics.side_effect = count_during_send
    async with INSIGHT.test_context() as agent:
        await deliver(agent, tick(time.time()), topic=INSIGHT_TICKS, partition=0)

    kept = ot.tables.windows[window.key]
    assert (kept.events, kept.last_offset) == (2, 7)
    assert (kept.revision, kept.published_revision) == (2, 1)  # revision 2 not published yet
    assert outputs.values("analytics")[0].events == 1


async def test_tick_publishes_closed_analytics_window_once(outputs: Outputs) -> None:
    timestamp = time.time()
    start = analytics.window_start(timestamp, WINDOW_SECONDS)
    due = start + WINDOW_SECONDS + LATENESS_SECONDS
    async with ORDER_BOOK.test_context() as agent:
        order = enriched("SO-1", "25000.00", timestamp=timestamp)
        await deliver(agent, wire(order, "enriched_order"), topic=ENRICHED, partition=0)
        (sent,) = outputs.kwargs("classified")
    async with INSIGHT.test_context() as agent:
        classified = sent["value"].model_dump_json().encode()
        await deliver(
            agent, classified, topic=CLASSIFIED, key=b"SO-1", partition=0, timestamp=timestamp
        )
        await deliver(agent, tick(due - 1), topic=INSIGHT_TICKS, partition=0)
        assert outputs.kwargs("analytics") == []  # not closed yet

        await deliver(agent, tick(due), topic=INSIGHT_TICKS, partition=0)
        await deliver(agent, tick(due + 1), topic=INSIGHT_TICKS, partition=0)  # nothing new

    (sent,) = outputs.kwargs("analytics")
    window: AnalyticsWindow = sent["value"]
    assert sent["key"] == f"{WINDOW_SECONDS}:{start}:0".encode() == window.window_id.encode()
    assert (window.window_seconds, window.partition, window.events) == (WINDOW_SECONDS, 0, 1)
    assert window.window_start.timestamp() == start
    counts = {(c.dimension, c.value): c for c in window.counts}
    assert counts[("value_tier", "high")].count == 1
    assert counts[("value_tier", "high")].amounts == {"CNY": Decimal("25000.00")}
    assert {d for d, _ in counts} == {
        "customer_segment",
        "priority",
        "product_type",
        "status_category",
        "value_tier",
    }


async def test_a_tick_publishes_its_own_partitions_windows_only(outputs: Outputs) -> None:
    """A tick sweeps the windows its partition counted (found by key, the others not read)."""
    start = analytics.window_start(time.time() - 3600, WINDOW_SECONDS)
    for partition in (0, 1):
        window = analytics.WindowState(
            window_seconds=WINDOW_SECONDS, start=start, partition=partition
        )
        window.events, window.revision = 1, 1
        ot.tables.windows.data[window.key] = window
    async with INSIGHT.test_context() as agent:
        await deliver(agent, tick(time.time()), topic=INSIGHT_TICKS, partition=0)
        assert [w.partition for w in outputs.values("analytics")] == [0]
        await deliver(agent, tick(time.time()), topic=INSIGHT_TICKS, partition=1)
    assert [w.partition for w in outputs.values("analytics")] == [0, 1]
