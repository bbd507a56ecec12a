"""The insight agent on Faust's test context: counts once per event, whatever is re-read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from unittest.mock import AsyncMock, patch

import pytest

from streams.classify import insight as state
from tests.agents.conftest import deliver, ot
from tests.unit.report.test_figures import record

pytestmark = pytest.mark.timeout(30)

CLASSIFIED = ot.topics.classified.get_topic_name()
NOW = datetime.now(UTC).replace(microsecond=0)
AT = NOW.replace(minute=(NOW.minute // 15) * 15, second=0)  # the start of NOW's bucket


@pytest.fixture
def customers_send() -> Iterator[AsyncMock]:
    mock = AsyncMock(name="insight-customers.send")
    with patch.object(ot.topics.insight_customers, "send", new=mock):
        yield mock


def counts(dimension: str) -> dict[str, int]:
    buckets = list(ot.tables.insight_buckets.values())
    return {v: c.count for v, c in state.totals(buckets, dimension, AT, NOW).items()}


async def test_each_event_counts_once_and_closed_orders_leave_the_index(
    customers_send: AsyncMock,
) -> None:
    at = AT
    created = record("A", at, customer_id="C-1", customer_segment="vip").model_dump_json().encode()
    async with ot.app.agents["insight"].test_context() as agent:
        await deliver(agent, created, topic=CLASSIFIED, key=b"A", offset=0)
        await deliver(agent, created, topic=CLASSIFIED, key=b"A", offset=0)  # our replay
        await deliver(agent, created, topic=CLASSIFIED, key=b"A", offset=5)  # re-sent by orders
        # A crash after the bucket's write but before the index's: the offset still tells.
        ot.tables.insight_orders.data.pop("A")  # the store itself: no changelog
        await deliver(agent, created, topic=CLASSIFIED, key=b"A", offset=0)
        assert counts("value_tier") == {"high": 1} and counts("status") == {"new": 1}
        assert sum(window_events().values()) == 1
        index = ot.tables.insight_orders["A"]
        assert index.open is not None and index.open.customer_segment == "vip"

        rules = record("A", at, cause="reclassified", event_id="rules:v2", value_tier="low")
        await deliver(agent, rules.model_dump_json().encode(), topic=CLASSIFIED, key=b"A", offset=6)
        assert counts("value_tier") == {"high": 1}  # a rule switch is no event
        index = ot.tables.insight_orders["A"]
        assert index.open is not None and index.open.value_tier == "low"

        cancel = record(
            "A",
            at,
            cause="status-changed",
            event_id="e-cancel",
            status="cancelled",
            status_category="closed",
        )
        await deliver(
            agent, cancel.model_dump_json().encode(), topic=CLASSIFIED, key=b"A", offset=7
        )
        assert counts("status") == {"new": 1, "cancelled": 1}
        assert counts("product_type") == {"tv": 1}  # a status change counts in status only
        assert ot.tables.insight_orders["A"].open is None

    sent = [(c.kwargs["key"], c.kwargs["value"].segment) for c in customers_send.await_args_list]
    # For the created order, then again for each of our own replays (the first send may be lost).
    assert sent == [(b"C-1", "vip")] * 3


def window_events() -> dict[str, int]:
    return {key: w.events for key, w in ot.tables.windows.items()}


async def test_a_crash_that_kept_only_the_index_is_counted_on_replay(
    customers_send: AsyncMock,
) -> None:
    """Bucket, window and index are three changelog records: a crash may keep any of them."""
    created = record("B", AT, customer_id="C-2").model_dump_json().encode()
    when = AT.timestamp() + 1
    async with ot.app.agents["insight"].test_context() as agent:
        await deliver(agent, created, topic=CLASSIFIED, key=b"B", offset=3, timestamp=when)
        windows = window_events()
        assert list(windows.values()) == [1]
        # The crash kept the index write only (the store itself: no changelog).
        ot.tables.insight_buckets.data.clear()
        ot.tables.windows.data.clear()
        await deliver(agent, created, topic=CLASSIFIED, key=b"B", offset=3, timestamp=when)
        await deliver(agent, created, topic=CLASSIFIED, key=b"B", offset=9, timestamp=when)
    assert counts("value_tier") == {"high": 1}
    assert window_events() == windows  # the same window, counted once


async def test_the_latest_order_sets_the_customer_segment() -> None:
    topic = ot.topics.insight_customers.get_topic_name()
    early = state.CustomerSeen(segment="new", order_id="O1", occurred_at=NOW)
    late = state.CustomerSeen(segment="regular", order_id="O2", occurred_at=NOW.replace(year=2027))
    async with ot.app.agents["insight-customers"].test_context() as agent:
        await deliver(agent, late.model_dump_json().encode(), topic=topic, key=b"C-1")
        await deliver(agent, early.model_dump_json().encode(), topic=topic, key=b"C-1")
    assert ot.tables.insight_customers["C-1"].segment == "regular"


async def test_a_new_bucket_drops_its_partitions_buckets_past_retention(
    customers_send: AsyncMock,
) -> None:
    """Only the started bucket's partition is swept, by the start its key holds."""
    old = int(AT.timestamp()) - state.RETENTION_SECONDS - state.BUCKET_SECONDS
    ot.tables.insight_buckets.data.update(
        {
            state.bucket_key(old, 0): state.Bucket(start=old, partition=0),
            state.bucket_key(old, 1): state.Bucket(start=old, partition=1),
        }
    )
    created = record("D", AT, customer_id="C-4").model_dump_json().encode()
    async with ot.app.agents["insight"].test_context() as agent:
        await deliver(agent, created, topic=CLASSIFIED, key=b"D", offset=1, partition=0)
    assert sorted(ot.tables.insight_buckets.data) == sorted(
        [state.bucket_key(int(AT.timestamp()), 0), state.bucket_key(old, 1)]
    )
