"""streams.tools.sample: a seeded, realistic, decodable stream of order events."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from schemas.codec import DecodeError, decode
from schemas.events import OrderCreated, Status, StatusChanged
from streams.classify.lifecycle import TRANSITIONS
from streams.tools.sample import SampleStream
from streams.topics import CREATED, STATUS_CHANGED

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
Record = tuple[str, bytes | None, bytes]


def records(
    count: int = 200, seed: int = 7, *, bad_share: float = 0.03, prefix: str = ""
) -> list[Record]:
    stream = SampleStream(count=count, seed=seed, bad_share=bad_share, start=START, prefix=prefix)
    return list(stream)


@pytest.fixture(scope="module")
def clean() -> tuple[list[OrderCreated], list[StatusChanged]]:
    created: list[OrderCreated] = []
    changes: list[StatusChanged] = []
    for topic, key, value in records(bad_share=0):
        if topic == CREATED:
            event = decode(OrderCreated, value)
            assert key == event.order.order_id.encode()
            created.append(event)
        else:
            assert topic == STATUS_CHANGED
            change = decode(StatusChanged, value)
            assert key == change.order_id.encode()
            changes.append(change)
    return created, changes


def test_deterministic_for_seed_and_start() -> None:
    assert records(seed=11) == records(seed=11)
    assert records(seed=11) != records(seed=12)


def test_every_clean_record_decodes(
    clean: tuple[list[OrderCreated], list[StatusChanged]],
) -> None:
    created, changes = clean
    assert [e.order.order_id for e in created] == [f"SO-7-{n:07d}" for n in range(200)]
    event_ids = [e.event_id for e in created] + [c.event_id for c in changes]
    assert len(set(event_ids)) == len(event_ids)
    assert changes
    for event in created:
        items = event.order.items
        assert event.order.total_amount == sum(i.unit_price * i.quantity for i in items)
        assert event.occurred_at >= START


def test_status_walks_use_allowed_transitions(
    clean: tuple[list[OrderCreated], list[StatusChanged]],
) -> None:
    created, changes = clean
    created_at = {e.order.order_id: e.occurred_at for e in created}
    walks: dict[str, list[StatusChanged]] = defaultdict(list)
    for change in changes:
        walks[change.order_id].append(change)
    assert set(walks) <= set(created_at)
    for order_id, walk in walks.items():
        current = Status.NEW
        previous_at = created_at[order_id]
        for change in sorted(walk, key=lambda c: c.occurred_at):
            assert change.from_status is current, order_id
            assert change.to_status in TRANSITIONS[current], order_id
            assert change.occurred_at > previous_at
            current, previous_at = change.to_status, change.occurred_at


def test_status_changes_follow_their_order() -> None:
    seen: set[str] = set()
    for topic, _, value in records(bad_share=0):
        if topic == CREATED:
            seen.add(decode(OrderCreated, value).order.order_id)
        else:
            assert decode(StatusChanged, value).order_id in seen


def test_repeat_customers_exist(clean: tuple[list[OrderCreated], list[StatusChanged]]) -> None:
    created, _ = clean
    orders_per_customer = Counter(e.order.customer.customer_id for e in created)
    assert max(orders_per_customer.values()) >= 5
    assert sum(1 for n in orders_per_customer.values() if n >= 2) >= 3


def test_bad_records_are_mixed_in_and_decode_errors_are_clean() -> None:
    failures: Counter[str] = Counter()
    for topic, _, value in records(count=60, bad_share=1.0):
        model = OrderCreated if topic == CREATED else StatusChanged
        try:
            decode(model, value)
        except DecodeError as err:
            failures[err.code] += 1
    assert failures["invalid_json"] > 0
    assert failures["schema_violation"] > 0


def test_prefix_applies_to_topics() -> None:
    topics = {topic for topic, _, _ in records(count=20, prefix="staging.")}
    assert topics == {f"staging.{CREATED}", f"staging.{STATUS_CHANGED}"}
