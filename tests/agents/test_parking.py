"""Status changes that overtake their order: parked, applied on arrival, expired."""

from __future__ import annotations

import time
from unittest.mock import patch

import pytest

from schemas.events import ClassifiedOrder
from tests.agents.builders import (
    ENRICHED,
    ORDER_BOOK,
    STATUS,
    TICKS,
    enriched,
    parked_entries,
    tick,
    wire,
)
from tests.agents.conftest import (
    AGENTS,
    GRACE_SECONDS,
    Outputs,
    deliver,
    ot,
)
from tests.integration.events import dumps, status

pytestmark = pytest.mark.timeout(30)


async def test_status_before_its_order_is_parked_then_applied(outputs: Outputs) -> None:
    change = dumps(status("SO-1", "new", "confirmed"))
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, change, topic=STATUS, key=b"SO-1", partition=0)

        assert outputs.kwargs("classified") == []
        (parked,) = ot.tables.parked["SO-1"].events
        assert parked.raw.encode() == change
        assert parked.source.topic == STATUS

        message = await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        # The parked change stays until the order's write is safe: its created record committed.
        committed: list[int | None] = [None]
        with patch("streams.runtime.offsets.committed", lambda *_: committed[0]):
            await deliver(agent, tick(time.time()), topic=TICKS, partition=0)
            assert "SO-1" in ot.tables.parked
            committed[0] = message.offset
            await deliver(agent, tick(time.time()), topic=TICKS, partition=0)
            assert "SO-1" in ot.tables.parked
            committed[0] = message.offset + 1
            await deliver(agent, tick(time.time()), topic=TICKS, partition=0)
            assert "SO-1" not in ot.tables.parked

    records: list[ClassifiedOrder] = outputs.values("classified")
    assert [(r.cause, r.status.value) for r in records] == [
        ("order-created", "new"),
        ("status-changed", "confirmed"),
    ]
    assert records[1].status_category.value == "in_progress"
    assert ot.tables.orders["SO-1"].classification.status.value == "confirmed"
    assert outputs.kwargs("deadletter") == []


@pytest.mark.parametrize("replayed", ["created", "next status"])
async def test_parked_changes_whose_writes_a_crash_lost_are_applied_again(
    outputs: Outputs, replayed: str
) -> None:
    """The creation applied two parked changes, and the crash kept the order's first write only
    (seen in a broker-outage run: the order stayed ``shipped``, its input said ``completed``).
    Whichever of its records is replayed first applies them, before anything later."""
    changes = (
        status("SO-1", "new", "confirmed", minutes=1),
        status("SO-1", "confirmed", "processing", minutes=2),
    )
    order = wire(enriched("SO-1"), "enriched_order")
    async with ORDER_BOOK.test_context() as agent:
        created_at = await deliver(agent, order, topic=ENRICHED, key=b"SO-1")
        # What the crash left: the order as created, its parked changes still there.
        ot.tables.parked.data["SO-1"] = parked_entries(*changes)
        if replayed == "created":
            await deliver(agent, order, topic=ENRICHED, key=b"SO-1", offset=created_at.offset)
        ship = status("SO-1", "processing", "shipped", minutes=3)
        await deliver(agent, dumps(ship), topic=STATUS, key=b"SO-1")

    assert ot.tables.orders["SO-1"].classification.status.value == "shipped"
    assert outputs.kwargs("deadletter") == []
    statuses = [r.status.value for r in outputs.values("classified")]
    assert statuses[-3:] == ["confirmed", "processing", "shipped"]


async def test_the_replayed_creation_resends_what_its_last_parked_change_sent(
    outputs: Outputs,
) -> None:
    """The creation applied its parked changes, and the crash kept every write but the last
    change's classified record (seen in a kill -9 run: the order was ``completed`` in its
    table, its classified records stopped at ``delivered``). The parked changes' own inputs
    were committed when they were parked, so only the creation's replay can send it again."""
    changes = (
        status("SO-1", "new", "confirmed", minutes=1),
        status("SO-1", "confirmed", "processing", minutes=2),
    )
    order = wire(enriched("SO-1"), "enriched_order")
    async with ORDER_BOOK.test_context() as agent:
        for change in changes:
            await deliver(agent, dumps(change), topic=STATUS, key=b"SO-1")
        created_at = await deliver(agent, order, topic=ENRICHED, key=b"SO-1")
        first: list[ClassifiedOrder] = outputs.values("classified")
        notified = outputs.values("notifications")
        await deliver(agent, order, topic=ENRICHED, key=b"SO-1", offset=created_at.offset)

    assert [r.status.value for r in first] == ["new", "confirmed", "processing"]
    again: list[ClassifiedOrder] = outputs.values("classified")[len(first) :]
    assert again == [first[-1]]  # the same record: the same event id, the same classification
    assert outputs.values("notifications")[len(notified) :] == [
        n for n in notified if n.cause_event_id == first[-1].event_id
    ]
    assert outputs.kwargs("deadletter") == []


async def test_a_parked_change_dead_lettered_on_arrival_is_not_taken_for_lost(
    outputs: Outputs,
) -> None:
    """A parked change dead-lettered when its order comes is dead-lettered once: the order
    records it as handled, so the next change does not take it for lost and send it again."""
    confirm = dumps(status("SO-1", "new", "confirmed", minutes=1, event_id="S-1"))
    jump = dumps(status("SO-1", "new", "delivered", minutes=2, event_id="S-bad"))
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, confirm, topic=STATUS, key=b"SO-1")
        await deliver(agent, jump, topic=STATUS, key=b"SO-1")
        await deliver(agent, confirm, topic=STATUS, key=b"SO-1")  # an upstream duplicate
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        process = status("SO-1", "confirmed", "processing", minutes=2)
        await deliver(agent, dumps(process), topic=STATUS, key=b"SO-1")

    codes = sorted(d.code for d in outputs.dead_letters())
    assert codes == ["duplicate_event", "status_mismatch"]
    assert ot.tables.orders["SO-1"].classification.status.value == "processing"
    assert set(ot.tables.orders["SO-1"].parked_handled) == {"S-1", "S-bad"}


async def test_tick_after_grace_dead_letters_status_of_unknown_order(outputs: Outputs) -> None:
    """Gives up once every order produced within the grace after parking has reached the order
    book (the drain barrier's ``through``), whatever the clock says."""
    drain = AGENTS.orders.parking.drain
    drain.through = None
    change = dumps(status("SO-404", "new", "confirmed"))
    before = time.time()
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, change, topic=STATUS, key=b"SO-404", partition=0)
        parked_at = ot.tables.parked["SO-404"].events[0].parked_at
        assert before <= parked_at <= time.time()

        # Hours later by the clock, but the created path has not drained: it waits.
        await deliver(agent, tick(parked_at + 3600), topic=TICKS, partition=0)
        drain.through = parked_at + GRACE_SECONDS - 0.5  # drained, not yet a grace past it
        await deliver(agent, tick(parked_at + 3600), topic=TICKS, partition=0)
        drain.through = parked_at + GRACE_SECONDS
        await deliver(agent, tick(parked_at + 3600), topic=TICKS, partition=1)
        assert outputs.kwargs("deadletter") == []  # within grace / another partition's tick
        assert "SO-404" in ot.tables.parked

        await deliver(agent, tick(parked_at + GRACE_SECONDS), topic=TICKS, partition=0)

    (letter,) = outputs.dead_letters()
    assert letter.code == "unknown_order"
    assert letter.value == change
    assert letter.key == b"SO-404"
    assert letter.headers["source_topic"] == STATUS
    assert "SO-404" not in ot.tables.parked
    assert outputs.kwargs("classified") == []
