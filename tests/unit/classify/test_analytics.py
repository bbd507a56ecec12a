"""streams.classify.analytics: tumbling windows of counts and amounts per dimension."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import (
    AnalyticsWindow,
    ClassifiedOrder,
    CustomerSegment,
    Priority,
    ValueTier,
)
from streams.classify import analytics
from streams.classify.analytics import WindowState
from tests.unit.conftest import NOW, change_status, classify, make_order, make_status_change

DIMENSIONS = ["product_type", "customer_segment", "value_tier", "status_category", "priority"]
BASE = classify(make_order(total="100.00"))


def record(**update: object) -> ClassifiedOrder:
    return BASE.model_copy(update=update)


def state(start: int = 0, window_seconds: int = 60) -> WindowState:
    return WindowState(window_seconds=window_seconds, start=start, partition=2)


@pytest.mark.parametrize(
    ("timestamp", "size", "start"),
    [(0, 60, 0), (59.999, 60, 0), (60, 60, 60), (125.5, 60, 120), (7199, 3600, 3600)],
)
def test_window_start_alignment(timestamp: float, size: int, start: int) -> None:
    assert analytics.window_start(timestamp, size) == start


@given(st.floats(min_value=0, max_value=4e9), st.sampled_from([1, 5, 60, 3600]))
def test_window_start_contains_timestamp(timestamp: float, size: int) -> None:
    start = analytics.window_start(timestamp, size)
    assert start % size == 0
    assert start <= timestamp < start + size


def test_created_order_counts_in_every_dimension() -> None:
    s = analytics.add(state(), BASE)
    assert sorted(s.cells) == [
        "customer_segment=new",
        "priority=P4",
        "product_type=electronics",
        "status_category=new",
        "value_tier=low",
    ]
    assert all(c.count == 1 and c.amounts == {"CNY": Decimal("100.00")} for c in s.cells.values())
    assert (s.events, s.revision) == (1, 1)


def test_status_change_counts_in_status_category_only() -> None:
    change = make_status_change("new", "confirmed")
    confirmed = change_status(BASE, change, now=NOW)
    s = analytics.add(state(), confirmed)
    assert list(s.cells) == ["status_category=in_progress"]
    assert s.cells["status_category=in_progress"].count == 1
    assert s.events == 1


def test_amounts_are_kept_per_currency() -> None:
    s = state()
    for total, currency in [("100.10", "CNY"), ("50", "USD"), ("25.05", "CNY")]:
        analytics.add(s, record(total_amount=Decimal(total), currency=currency))
    cell = s.cells["value_tier=low"]
    assert cell.count == 3
    assert cell.amounts == {"CNY": Decimal("125.15"), "USD": Decimal(50)}


def test_is_due_after_end_plus_lateness_with_unpublished_counts() -> None:
    s = state(start=120, window_seconds=60)
    assert not analytics.is_due(s, now=10_000, lateness=10)  # nothing counted yet
    analytics.add(s, BASE)
    assert not analytics.is_due(s, now=180, lateness=10)
    assert not analytics.is_due(s, now=189.999, lateness=10)
    assert analytics.is_due(s, now=190, lateness=10)
    s.published_revision = s.revision
    assert not analytics.is_due(s, now=10_000, lateness=10)
    analytics.add(s, BASE)  # a late event after publication
    assert analytics.is_due(s, now=10_000, lateness=10)


def test_expiry_after_retention() -> None:
    s = state(start=120, window_seconds=60)
    assert not analytics.is_expired(s, now=180 + 99.9, retention=100)
    assert analytics.is_expired(s, now=280, retention=100)


def test_to_event_round_trips_counts() -> None:
    s = state(start=3600, window_seconds=60)
    analytics.add(s, BASE)
    analytics.add(
        s,
        record(
            total_amount=Decimal(20000),
            value_tier=ValueTier.HIGH,
            priority=Priority.P2,
            currency="USD",
        ),
    )
    event = analytics.to_event(s, NOW)
    assert event.window_id == "60:3600:2" == s.key
    assert event.window_start == datetime(1970, 1, 1, 1, 0, tzinfo=UTC)
    assert event.window_end == datetime(1970, 1, 1, 1, 1, tzinfo=UTC)
    assert (event.partition, event.revision, event.events) == (2, 2, 2)
    assert event.published_at == NOW
    cells = {f"{c.dimension}={c.value}": (c.count, c.amounts) for c in event.counts}
    assert cells == {k: (c.count, c.amounts) for k, c in s.cells.items()}
    assert [f"{c.dimension}={c.value}" for c in event.counts] == sorted(s.cells)
    assert AnalyticsWindow.model_validate_json(event.model_dump_json()) == event


def test_dimension_value_containing_equals_sign_survives() -> None:
    s = analytics.add(state(), record(primary_product_type="a=b"))
    counts = analytics.to_event(s, NOW).counts
    assert ("product_type", "a=b") in {(c.dimension, c.value) for c in counts}


created_records = st.builds(
    record,
    primary_product_type=st.sampled_from(["computers", "electronics", "groceries"]),
    customer_segment=st.sampled_from(list(CustomerSegment)),
    value_tier=st.sampled_from(list(ValueTier)),
    priority=st.sampled_from(list(Priority)),
    currency=st.sampled_from(["CNY", "USD"]),
    total_amount=st.decimals(min_value=0, max_value=10**9, places=2),
)


@given(st.lists(created_records, max_size=30))
def test_counts_per_dimension_sum_to_events(records: list[ClassifiedOrder]) -> None:
    s = state()
    for r in records:
        analytics.add(s, r)
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for c in analytics.to_event(s, NOW).counts:
        counts[c.dimension] += c.count
        for currency, amount in c.amounts.items():
            amounts[c.dimension, currency] += amount
    assert s.events == s.revision == len(records)
    assert set(counts) == (set(DIMENSIONS) if records else set())
    for dimension in counts:
        assert counts[dimension] == len(records)
        for currency in ("CNY", "USD"):
            expected = sum((r.total_amount for r in records if r.currency == currency), Decimal(0))
            assert amounts[dimension, currency] == expected
