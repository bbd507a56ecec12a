"""The order agent: created orders and status changes applied, classified and sent."""

from __future__ import annotations

import time

import pytest

from schemas.events import ClassifiedOrder, Notification
from tests.agents.builders import (
    ENRICHED,
    ORDER_BOOK,
    STATUS,
    TICKS,
    enriched,
    tick,
    wire,
)
from tests.agents.conftest import (
    RETENTION_SECONDS,
    Outputs,
    deliver,
    ot,
)
from tests.integration.events import dumps, status

pytestmark = pytest.mark.timeout(30)


async def test_created_order_is_classified_and_notified(outputs: Outputs) -> None:
    order = enriched("SO-1", "25000.00")
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(order, "enriched_order"), topic=ENRICHED, key=b"SO-1")

    (sent,) = outputs.kwargs("classified")
    record: ClassifiedOrder = sent["value"]
    assert sent["key"] == b"SO-1"
    assert (record.order_id, record.cause, record.status.value) == ("SO-1", "order-created", "new")
    assert (record.value_tier.value, record.priority.value) == ("high", "P2")
    assert record.event_id == order.event.event_id
    notes: list[Notification] = outputs.values("notifications")
    assert [(n.kind, n.order_id, n.priority.value) for n in notes] == [
        ("high_value_order", "SO-1", "P2")
    ]
    assert ot.tables.orders["SO-1"].classification == record
    assert outputs.kwargs("deadletter") == []


async def test_replayed_created_order_resends_outputs_without_counting_twice(
    outputs: Outputs,
) -> None:
    """After a crash the same enriched record comes again: same outputs, state untouched."""
    order = enriched("SO-1", "25000.00", timestamp=time.time())
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(order, "enriched_order"), topic=ENRICHED, key=b"SO-1")
        await deliver(agent, wire(order, "enriched_order"), topic=ENRICHED, key=b"SO-1")

    first, again = outputs.values("classified")
    assert again.model_copy(update={"classified_at": first.classified_at}) == first
    notes: list[Notification] = outputs.values("notifications")
    assert len(notes) == 2 and notes[0].notification_id == notes[1].notification_id
    assert outputs.kwargs("deadletter") == []
    # The copy carries the input's timestamp, so it falls in the first one's analytics window.
    first_sent, again_sent = outputs.kwargs("classified")
    assert first_sent["timestamp"] == again_sent["timestamp"] == order.source.timestamp
    assert ot.tables.orders["SO-1"].applied_event_ids == [order.event.event_id]


async def test_low_value_order_sends_no_notification(outputs: Outputs) -> None:
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1", "20.00"), "enriched_order"), topic=ENRICHED)

    assert [r.priority.value for r in outputs.values("classified")] == ["P4"]
    assert outputs.kwargs("notifications") == []


async def test_status_changes_apply_in_order_and_duplicates_are_dead_lettered(
    outputs: Outputs,
) -> None:
    confirm = dumps(status("SO-1", "new", "confirmed", minutes=5, event_id="S-1"))
    process = dumps(status("SO-1", "confirmed", "processing", minutes=6, event_id="S-2"))
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        await deliver(agent, confirm, topic=STATUS, key=b"SO-1")
        await deliver(agent, process, topic=STATUS, key=b"SO-1")
        await deliver(agent, confirm, topic=STATUS, key=b"SO-1")

    assert [r.status.value for r in outputs.values("classified")] == [
        "new",
        "confirmed",
        "processing",
    ]
    assert [(d.code, d.value) for d in outputs.dead_letters()] == [("duplicate_event", confirm)]
    assert ot.tables.orders["SO-1"].applied_event_ids[1:] == ["S-1", "S-2"]


async def test_replayed_status_change_resends_its_outputs_once(outputs: Outputs) -> None:
    """Re-read from the same offset (a crash after the state write): outputs again, no DLQ."""
    cancel = dumps(status("SO-1", "new", "cancelled", minutes=5, event_id="S-1"))
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        first = await deliver(agent, cancel, topic=STATUS, key=b"SO-1")
        await deliver(agent, cancel, topic=STATUS, key=b"SO-1", offset=first.offset)

    assert [r.status.value for r in outputs.values("classified")] == [
        "new",
        "cancelled",
        "cancelled",
    ]
    notes: list[Notification] = outputs.values("notifications")
    assert [n.kind for n in notes] == ["order_cancelled", "order_cancelled"]
    assert notes[0].notification_id == notes[1].notification_id
    assert outputs.dead_letters() == []
    assert ot.tables.orders["SO-1"].applied_event_ids[1:] == ["S-1"]


async def test_invalid_transition_is_dead_lettered(outputs: Outputs) -> None:
    ship = dumps(status("SO-1", "new", "shipped"))
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        message = await deliver(agent, ship, topic=STATUS, key=b"SO-1", partition=0)

    (letter,) = outputs.dead_letters()
    assert letter.code == "invalid_transition"
    assert letter.value == ship
    assert letter.headers["error_class"] == "InvalidTransition"
    assert letter.headers["source_topic"] == STATUS
    assert letter.headers["source_partition"] == "0"
    assert letter.headers["source_offset"] == str(message.offset)
    assert [r.status.value for r in outputs.values("classified")] == ["new"]
    assert ot.tables.orders["SO-1"].classification.status.value == "new"


async def test_undecodable_status_is_dead_lettered(outputs: Outputs) -> None:
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, b"{oops", topic=STATUS, key=b"SO-1")

    assert [d.code for d in outputs.dead_letters()] == ["invalid_json"]
    assert len(ot.tables.parked) == 0


async def test_older_status_event_is_recorded_not_applied(outputs: Outputs) -> None:
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED, partition=0)
        newer = dumps(status("SO-1", "new", "confirmed", minutes=30))
        older = dumps(status("SO-1", "confirmed", "processing", minutes=10))
        await deliver(agent, newer, topic=STATUS, key=b"SO-1", partition=0)
        await deliver(agent, older, topic=STATUS, key=b"SO-1", partition=0, offset=1)

    assert ot.tables.orders["SO-1"].classification.status.value == "confirmed"
    (dead,) = outputs.dead_letters()
    assert dead.code == "out_of_order"
    assert "recorded, not applied" in dead.headers["reason"]


async def test_finished_orders_leave_the_table_after_retention(outputs: Outputs) -> None:
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED, partition=0)
        cancel = dumps(status("SO-1", "new", "cancelled", minutes=5))
        await deliver(agent, cancel, topic=STATUS, key=b"SO-1", partition=0)
        finished_at = ot.tables.orders["SO-1"].finished_at
        assert finished_at is not None
        await deliver(agent, tick(finished_at + RETENTION_SECONDS - 1), topic=TICKS, partition=0)
        assert "SO-1" in ot.tables.orders
        await deliver(agent, tick(finished_at + RETENTION_SECONDS), topic=TICKS, partition=0)
        assert "SO-1" not in ot.tables.orders
