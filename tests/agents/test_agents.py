"""The three agents on Faust's in-memory test context (see conftest.py): no broker.

Each test starts the real agent function with ``agent.test_context()``, feeds it records as
they would arrive from a topic (``deliver``) and asserts on what it sent and on its tables.
"""

from __future__ import annotations

import time
from decimal import Decimal
from unittest.mock import patch

import pytest
from faust.serializers import codecs

from schemas.events import AnalyticsWindow, ClassifiedOrder, Notification, OrderCreated
from streams.agents.created import ingest_created
from streams.agents.customers import customer_history
from streams.agents.orders import order_book
from streams.classify import analytics
from streams.classify.customers import apply_order
from streams.deadletters import SOURCE_HEADER
from streams.records import EnrichedOrder, ParkedStatus, ParkedStatuses, Source, Tick
from tests.agents.conftest import (
    GRACE_SECONDS,
    LATENESS_SECONDS,
    RETENTION_SECONDS,
    WINDOW_SECONDS,
    Outputs,
    deliver,
    ot,
)
from tests.integration.events import created, dumps, status

pytestmark = pytest.mark.timeout(30)

CREATED = ot.topics.created.get_topic_name()
BY_CUSTOMER = ot.topics.by_customer.get_topic_name()
ENRICHED = ot.topics.enriched.get_topic_name()
STATUS = ot.topics.status_changed.get_topic_name()
TICKS = ot.topics.ticks.get_topic_name()


def source(order_id: str, *, offset: int = 7, timestamp: float | None = None) -> Source:
    """Coordinates of an ``orders.created`` record, as ingest puts them in the header."""
    return Source(
        topic=CREATED,
        partition=0,
        offset=offset,
        timestamp=time.time() if timestamp is None else timestamp,
        key=order_id,
    )


def source_header(src: Source) -> list[tuple[str, bytes]]:
    return [(SOURCE_HEADER, src.model_dump_json().encode())]


def enriched(
    order_id: str,
    amount: str = "100.00",
    *,
    customer_id: str = "C-1",
    timestamp: float | None = None,
) -> EnrichedOrder:
    """What customer_history sends for a first order of ``customer_id``."""
    event = OrderCreated.model_validate_json(dumps(created(order_id, customer_id, amount)))
    _, snapshot = apply_order(None, event.order)
    return EnrichedOrder(
        event=event, customer=snapshot, source=source(order_id, timestamp=timestamp)
    )


def wire(value: EnrichedOrder | Tick, codec: str) -> bytes:
    """Bytes as the topic's own value serializer writes them."""
    return codecs.dumps(codec, value)


def tick(now: float) -> bytes:
    return wire(Tick(now=now), "tick")


# --- ingest_created: orders.created -> orders-by-customer ----------------------------------


async def test_ingest_forwards_valid_order_keyed_by_customer(outputs: Outputs) -> None:
    raw = dumps(created("SO-1", "C-42", "199.00"))
    async with ingest_created.test_context() as agent:
        message = await deliver(agent, raw, topic=CREATED, key=b"SO-1", partition=2)

    (sent,) = outputs.kwargs("by_customer")
    assert sent["key"] == b"C-42"
    assert sent["value"] == raw  # the original bytes, not a re-encoding
    (name, header), *_ = sent["headers"]
    assert name == SOURCE_HEADER == "ordertriage.source"
    assert Source.model_validate_json(header) == Source(
        topic=CREATED, partition=2, offset=message.offset, timestamp=message.timestamp, key="SO-1"
    )
    assert outputs.kwargs("deadletter") == []


async def test_ingest_dead_letters_invalid_json(outputs: Outputs) -> None:
    raw = b'{"event_id": "E-1", "order": '
    async with ingest_created.test_context() as agent:
        await deliver(agent, raw, topic=CREATED, key=b"SO-1", partition=1)

    assert outputs.kwargs("by_customer") == []
    (letter,) = outputs.dead_letters()
    assert letter.code == "invalid_json"
    assert letter.value == raw
    assert letter.key == b"SO-1"
    assert letter.headers["error_class"] == "DecodeError"
    assert (letter.headers["source_topic"], letter.headers["source_partition"]) == (CREATED, "1")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_value"),
        (b"\xff\xfe{", "not_utf8"),
        (b"[1, 2]", "schema_violation"),
        (dumps({**created("SO-1", "C-1", "10"), "occurred_at": "yesterday"}), "schema_violation"),
    ],
    ids=["empty", "not-utf8", "json-array", "bad-field"],
)
async def test_ingest_dead_letters_each_decode_failure(
    outputs: Outputs, raw: bytes, code: str
) -> None:
    async with ingest_created.test_context() as agent:
        await deliver(agent, raw, topic=CREATED, key=b"SO-1")

    assert [letter.code for letter in outputs.dead_letters()] == [code]
    assert outputs.dead_letters()[0].value == raw
    assert outputs.kwargs("by_customer") == []


async def test_ingest_keeps_processing_after_a_bad_record(outputs: Outputs) -> None:
    bad = b"not json at all"
    good = dumps(created("SO-2", "C-7", "50.00"))
    async with ingest_created.test_context() as agent:
        await deliver(agent, bad, topic=CREATED, key=b"SO-1")
        await deliver(agent, good, topic=CREATED, key=b"SO-2")

    assert [(d.code, d.value) for d in outputs.dead_letters()] == [("invalid_json", bad)]
    assert [(s["key"], s["value"]) for s in outputs.kwargs("by_customer")] == [(b"C-7", good)]


# --- customer_history: orders-by-customer -> customers table -> orders-enriched ------------


async def test_customer_history_counts_prior_orders(outputs: Outputs) -> None:
    events = [created(f"SO-{n}", "C-1", "300.00") for n in range(3)]
    async with customer_history.test_context() as agent:
        for n, event in enumerate(events):
            src = source(f"SO-{n}", offset=n)
            await deliver(
                agent, dumps(event), topic=BY_CUSTOMER, key=b"C-1", headers=source_header(src)
            )

    sent = outputs.kwargs("enriched")
    assert [s["key"] for s in sent] == [b"SO-0", b"SO-1", b"SO-2"]
    values: list[EnrichedOrder] = [s["value"] for s in sent]
    assert [v.customer.prior_orders for v in values] == [0, 1, 2]
    third = values[2]
    assert third.customer.lifetime_spend == Decimal("900.00")
    assert third.event.event_id == events[2]["event_id"]
    assert third.source == source("SO-2", offset=2, timestamp=third.source.timestamp)
    assert third.source.offset == 2  # taken from the header, not from the internal topic
    stats = ot.tables.customers["C-1"]
    assert stats.order_count == 3
    assert stats.lifetime_spend == {"CNY": Decimal("900.00")}
    assert outputs.kwargs("deadletter") == []


@pytest.mark.parametrize("kept", ["customers", "customer_orders"])
async def test_customer_history_replay_repairs_a_half_written_count(
    outputs: Outputs, kept: str
) -> None:
    """A crash keeps one of the two records an order's count writes: the replay of the record
    that counted it (same offset) repairs the other, and counts the order exactly once."""
    events = [created(f"SO-{n}", "C-1", "300.00") for n in range(2)]
    headers = [source_header(source(f"SO-{n}", offset=n)) for n in range(2)]
    lost = "customer_orders" if kept == "customers" else "customers"
    async with customer_history.test_context() as agent:
        await deliver(agent, dumps(events[0]), topic=BY_CUSTOMER, key=b"C-1", headers=headers[0])
        saved = ot.tables.customers.data["C-1"], ot.tables.customer_orders.data.get("C-1/SO-0")
        await deliver(
            agent, dumps(events[1]), topic=BY_CUSTOMER, key=b"C-1", headers=headers[1], offset=1
        )
        # The crash: SO-1's write to ``lost`` never reached the changelog.
        if lost == "customers":
            ot.tables.customers.data["C-1"] = saved[0]
        else:
            del ot.tables.customer_orders.data["C-1/SO-1"]
        await deliver(
            agent, dumps(events[1]), topic=BY_CUSTOMER, key=b"C-1", headers=headers[1], offset=1
        )

    stats = ot.tables.customers["C-1"]
    assert (stats.order_count, stats.lifetime_spend) == (2, {"CNY": Decimal("600.00")})
    assert ot.tables.customer_orders["C-1/SO-1"].offset == 1
    values: list[EnrichedOrder] = outputs.values("enriched")
    # Both passes send what the order saw the first time (one prior order).
    assert [(v.event.order.order_id, v.customer.prior_orders) for v in values] == [
        ("SO-0", 0),
        ("SO-1", 1),
        ("SO-1", 1),
    ]
    assert values[1].customer == values[2].customer
    assert outputs.kwargs("deadletter") == []


async def test_customer_history_dead_letters_duplicates(outputs: Outputs) -> None:
    first = created("SO-1", "C-1", "100.00", event_id="E-1")
    again = created("SO-1", "C-1", "100.00", event_id="E-1")  # redelivered event
    other = created("SO-2", "C-1", "100.00", event_id="E-2")
    recreated = created("SO-1", "C-1", "100.00", event_id="E-3")  # same order, new event
    records = [(first, 10), (again, 11), (other, 12), (recreated, 13)]
    async with customer_history.test_context() as agent:
        for event, offset in records:
            src = source(event["order"]["order_id"], offset=offset)
            await deliver(
                agent, dumps(event), topic=BY_CUSTOMER, key=b"C-1", headers=source_header(src)
            )

    assert [s["key"] for s in outputs.kwargs("enriched")] == [b"SO-1", b"SO-2"]
    letters = outputs.dead_letters()
    assert [d.code for d in letters] == ["duplicate_event", "duplicate_order"]
    assert letters[0].value == dumps(again)
    assert letters[0].key == b"SO-1"
    # The dead letter points at the record the user produced (from the source header).
    assert (letters[0].headers["source_topic"], letters[0].headers["source_offset"]) == (
        CREATED,
        "11",
    )
    assert "E-1" in letters[1].headers["reason"]  # the event that counted the order
    assert ot.tables.customers["C-1"].order_count == 2  # distinct orders
    counted = {k: (v.event_id, v.position) for k, v in ot.tables.customer_orders.items()}
    assert counted == {
        "C-1/SO-1": ("E-1", f"{CREATED}/0/10"),
        "C-1/SO-2": ("E-2", f"{CREATED}/0/12"),
    }


async def test_customer_history_replay_resends_the_same_snapshot(outputs: Outputs) -> None:
    """The same record from the same source position is a replay: forwarded again as it was."""
    first = created("SO-1", "C-1", "100.00", event_id="E-1")
    src = source("SO-1", offset=10)
    async with customer_history.test_context() as agent:
        for _ in range(2):
            await deliver(
                agent, dumps(first), topic=BY_CUSTOMER, key=b"C-1", headers=source_header(src)
            )

    sent = outputs.values("enriched")
    assert len(sent) == 2 and sent[0] == sent[1]
    assert sent[0].customer.prior_orders == 0
    assert outputs.dead_letters() == []
    assert ot.tables.customers["C-1"].order_count == 1


# --- order_book: orders-enriched + orders.status-changed + ticks ---------------------------


async def test_created_order_is_classified_and_notified(outputs: Outputs) -> None:
    order = enriched("SO-1", "25000.00")
    async with order_book.test_context() as agent:
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
    async with order_book.test_context() as agent:
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
    async with order_book.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1", "20.00"), "enriched_order"), topic=ENRICHED)

    assert [r.priority.value for r in outputs.values("classified")] == ["P4"]
    assert outputs.kwargs("notifications") == []


async def test_status_before_its_order_is_parked_then_applied(outputs: Outputs) -> None:
    change = dumps(status("SO-1", "new", "confirmed"))
    async with order_book.test_context() as agent:
        await deliver(agent, change, topic=STATUS, key=b"SO-1", partition=0)

        assert outputs.kwargs("classified") == []
        (parked,) = ot.tables.parked["SO-1"].events
        assert parked.raw.encode() == change
        assert parked.source.topic == STATUS

        message = await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        # The parked change stays until the order's write is safe: its created record committed.
        committed: list[int | None] = [None]
        with patch("streams.offsets.committed", lambda *_: committed[0]):
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


def parked_entries(*changes: dict, partition: int = 0) -> ParkedStatuses:
    """Parked status changes as the order agent keeps them (read at offsets 100, 101, ...)."""
    return ParkedStatuses(
        events=[
            ParkedStatus(
                raw=dumps(c).decode(),
                source=Source(topic=STATUS, partition=partition, offset=100 + n, timestamp=1.0),
                parked_at=time.time(),
            )
            for n, c in enumerate(changes)
        ]
    )


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
    async with order_book.test_context() as agent:
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


async def test_a_parked_change_dead_lettered_on_arrival_is_not_taken_for_lost(
    outputs: Outputs,
) -> None:
    """A parked change dead-lettered when its order comes is dead-lettered once: the order
    records it as handled, so the next change does not take it for lost and send it again."""
    confirm = dumps(status("SO-1", "new", "confirmed", minutes=1, event_id="S-1"))
    jump = dumps(status("SO-1", "new", "delivered", minutes=2, event_id="S-bad"))
    async with order_book.test_context() as agent:
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


async def test_status_changes_apply_in_order_and_duplicates_are_dead_lettered(
    outputs: Outputs,
) -> None:
    confirm = dumps(status("SO-1", "new", "confirmed", minutes=5, event_id="S-1"))
    process = dumps(status("SO-1", "confirmed", "processing", minutes=6, event_id="S-2"))
    async with order_book.test_context() as agent:
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
    async with order_book.test_context() as agent:
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
    async with order_book.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        message = await deliver(agent, ship, topic=STATUS, key=b"SO-1", partition=3)

    (letter,) = outputs.dead_letters()
    assert letter.code == "invalid_transition"
    assert letter.value == ship
    assert letter.headers["error_class"] == "InvalidTransition"
    assert letter.headers["source_topic"] == STATUS
    assert letter.headers["source_partition"] == "3"
    assert letter.headers["source_offset"] == str(message.offset)
    assert [r.status.value for r in outputs.values("classified")] == ["new"]
    assert ot.tables.orders["SO-1"].classification.status.value == "new"


async def test_undecodable_status_is_dead_lettered(outputs: Outputs) -> None:
    async with order_book.test_context() as agent:
        await deliver(agent, b"{oops", topic=STATUS, key=b"SO-1")

    assert [d.code for d in outputs.dead_letters()] == ["invalid_json"]
    assert len(ot.tables.parked) == 0


async def test_tick_after_grace_dead_letters_status_of_unknown_order(outputs: Outputs) -> None:
    change = dumps(status("SO-404", "new", "confirmed"))
    before = time.time()
    async with order_book.test_context() as agent:
        await deliver(agent, change, topic=STATUS, key=b"SO-404", partition=0)
        parked_at = ot.tables.parked["SO-404"].events[0].parked_at
        assert before <= parked_at <= time.time()

        await deliver(agent, tick(parked_at + GRACE_SECONDS - 0.5), topic=TICKS, partition=0)
        await deliver(agent, tick(parked_at + GRACE_SECONDS + 1), topic=TICKS, partition=1)
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


async def test_counts_made_while_a_window_is_published_are_kept(outputs: Outputs) -> None:
    """The insight agent counts into a window while the tick publishes it (an await): the tick
    must not write back the copy it read (with RocksDB, ``get`` returns a copy)."""
    start = analytics.window_start(time.time() - 3600, WINDOW_SECONDS)
    window = analytics.WindowState(window_seconds=WINDOW_SECONDS, start=start, partition=0)
    window.events, window.revision = 1, 1
    ot.tables.windows.data[window.key] = window

    async def count_during_send(**kwargs: object) -> None:
        later = window.model_copy(deep=True)
        later.events, later.revision, later.last_offset = 2, 2, 7
        ot.tables.windows.data[window.key] = later

    outputs.analytics.side_effect = count_during_send
    async with order_book.test_context() as agent:
        await deliver(agent, tick(time.time()), topic=TICKS, partition=0)

    kept = ot.tables.windows[window.key]
    assert (kept.events, kept.last_offset) == (2, 7)
    assert (kept.revision, kept.published_revision) == (2, 1)  # revision 2 not published yet
    assert outputs.values("analytics")[0].events == 1


async def test_tick_publishes_closed_analytics_window_once(outputs: Outputs) -> None:
    timestamp = time.time()
    start = analytics.window_start(timestamp, WINDOW_SECONDS)
    due = start + WINDOW_SECONDS + LATENESS_SECONDS
    async with order_book.test_context() as agent:
        order = enriched("SO-1", "25000.00", timestamp=timestamp)
        await deliver(agent, wire(order, "enriched_order"), topic=ENRICHED, partition=0)
        # The insight agent counts classified records into windows (tests/agents/test_insight).
        (sent,) = outputs.kwargs("classified")
        window = analytics.WindowState(window_seconds=WINDOW_SECONDS, start=start, partition=0)
        ot.tables.windows.data[window.key] = analytics.add(window, sent["value"], offset=0)
        await deliver(agent, tick(due - 1), topic=TICKS, partition=0)
        assert outputs.kwargs("analytics") == []  # not closed yet

        await deliver(agent, tick(due), topic=TICKS, partition=0)
        await deliver(agent, tick(due + 1), topic=TICKS, partition=0)  # nothing new to publish

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


async def test_rule_switch_reclassifies_open_orders_in_batches_on_ticks(
    outputs: Outputs,
) -> None:
    """A new rule set: open orders of the ticked partition re-evaluated, a batch per tick;
    changed ones re-published once with new notifications only; finished ones left alone."""
    from streams.agents import reclassify
    from streams.classify.rules import RuleSet, default_text
    from streams.rulebook import Published

    v2 = RuleSet.from_text(
        default_text()
        .replace("label: default", "label: v2")
        .replace("default: {high: 10000, medium: 1000}", "default: {high: 5000, medium: 2000}")
    )
    reclassify.sweeps.clear()
    now = time.time()
    async with order_book.test_context() as agent:
        for n, amount in enumerate(["6000", "7000", "8000", "1500", "12000"]):
            order = enriched(f"SO-{n}", amount, customer_id=f"C-{n}", timestamp=now)
            await deliver(agent, wire(order, "enriched_order"), topic=ENRICHED, partition=0)
        done = enriched("SO-9", "6000", customer_id="C-9", timestamp=now)
        await deliver(agent, wire(done, "enriched_order"), topic=ENRICHED, partition=0)
        await deliver(
            agent,
            dumps(status("SO-9", "new", "cancelled")),
            topic=STATUS,
            key=b"SO-9",
            partition=0,
        )
        first = len(outputs.values("classified"))
        await deliver(agent, tick(now), topic=TICKS, partition=0)  # same rules: nothing
        assert len(outputs.values("classified")) == first

        ot.rulebook.active = Published(v2)
        counts = []
        for _ in range(4):  # RECLASSIFY_BATCH (2) orders per tick
            await deliver(agent, tick(now), topic=TICKS, partition=0)
            counts.append(len(outputs.values("classified")) - first)

    redone = [r for r in outputs.values("classified") if r.cause == "reclassified"]
    # 6000/7000/8000 medium -> high, 1500 medium -> low; 12000 stays high; SO-9 is closed.
    assert sorted(r.order_id for r in redone) == ["SO-0", "SO-1", "SO-2", "SO-3"]
    assert counts == [2, 4, 4, 4]  # a batch per tick; the fifth open order was unchanged
    assert all(r.rules_version == v2.version for r in redone)
    assert all(ot.tables.orders[r.order_id].classification == r for r in redone)
    new_notes = [
        n for n in outputs.values("notifications") if n.cause_event_id.startswith("rules:")
    ]
    assert sorted((n.order_id, n.kind) for n in new_notes) == [
        ("SO-0", "high_value_order"),
        ("SO-1", "high_value_order"),
        ("SO-2", "high_value_order"),
    ]


async def test_scheduled_review_tick_reevaluates_open_orders_as_of_the_tick(
    outputs: Outputs,
) -> None:
    from streams.agents import reclassify
    from streams.classify.rules import RuleSet, default_text
    from streams.rulebook import Published
    from tests.integration.events import T0

    head, tail = default_text().split("\n# The order state machine", 1)
    rule = "  - id: stalled\n    when: {age_hours: {gte: 72}}\n    then: {tags: [stalled]}\n"
    stalled = RuleSet.from_text(f"{head.rstrip()}\n{rule}\n# The order state machine{tail}")
    ot.rulebook.active = Published(stalled)
    reclassify.sweeps.clear()
    review = T0.timestamp() + 80 * 3600
    async with order_book.test_context() as agent:
        order = enriched("SO-1", "300", timestamp=time.time())
        await deliver(agent, wire(order, "enriched_order"), topic=ENRICHED, partition=0)
        await deliver(agent, tick(review), topic=TICKS, partition=0)  # no review: nothing
        assert [r.cause for r in outputs.values("classified")] == ["order-created"]
        await deliver(
            agent, wire(Tick(now=review, review=review), "tick"), topic=TICKS, partition=0
        )

    first, again = outputs.values("classified")
    assert "stalled" not in first.tags and "stalled" in again.tags
    assert again.event_id.startswith("review:") and again.cause == "reclassified"
    assert again.reasons["rule:stalled"] == "age_hours >= 72 (age_hours=80.00)"


def vip_order(order_id: str, amount: str = "25000.00") -> EnrichedOrder:
    """A P1 order (high value, vip customer): the shipped confirm-p1 SLA applies."""
    event = OrderCreated.model_validate_json(dumps(created(order_id, "C-V", amount, vip=True)))
    _, snapshot = apply_order(None, event.order)
    return EnrichedOrder(event=event, customer=snapshot, source=source(order_id))


async def test_sla_reminder_then_escalations_once_each_and_met_deadlines_stay_quiet(
    outputs: Outputs,
) -> None:
    from tests.integration.events import T0

    due = T0.timestamp() + 2 * 3600  # confirm-p1: within 2h, then every 1h up the ladder
    async with order_book.test_context() as agent:
        for oid in ("SO-late", "SO-ontime"):
            await deliver(
                agent, wire(vip_order(oid), "enriched_order"), topic=ENRICHED, partition=0
            )
        confirm = dumps(status("SO-ontime", "new", "confirmed", minutes=90))
        await deliver(agent, confirm, topic=STATUS, key=b"SO-ontime", partition=0)
        for at in (due - 1, due, due + 1, due + 3600, due + 3 * 3600, due + 10 * 3600):
            await deliver(agent, tick(at), topic=TICKS, partition=0)
            if at == due + 1:
                sla_notes = [n for n in outputs.values("notifications") if n.kind.startswith("sla")]
                assert [n.recipient_role for n in sla_notes] == ["sales_rep"]

    sla_notes = [n for n in outputs.values("notifications") if n.kind.startswith("sla_")]
    assert [(n.order_id, n.kind, n.recipient_role) for n in sla_notes] == [
        ("SO-late", "sla_reminder", "sales_rep"),
        ("SO-late", "sla_escalation", "sales_manager"),
        ("SO-late", "sla_escalation", "regional_director"),
    ]
    (clock,) = ot.tables.orders["SO-late"].clocks
    assert clock.fired == 3
    # Confirmed within 2h: that clock stopped, the shipping one (3 days) started.
    assert [(c.sla_id, c.fired) for c in ot.tables.orders["SO-ontime"].clocks] == [
        ("ship-in-3-days", 0)
    ]


async def test_older_status_event_is_recorded_not_applied(outputs: Outputs) -> None:
    async with order_book.test_context() as agent:
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
    async with order_book.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED, partition=0)
        cancel = dumps(status("SO-1", "new", "cancelled", minutes=5))
        await deliver(agent, cancel, topic=STATUS, key=b"SO-1", partition=0)
        finished_at = ot.tables.orders["SO-1"].finished_at
        assert finished_at is not None
        await deliver(agent, tick(finished_at + RETENTION_SECONDS - 1), topic=TICKS, partition=0)
        assert "SO-1" in ot.tables.orders
        await deliver(agent, tick(finished_at + RETENTION_SECONDS), topic=TICKS, partition=0)
        assert "SO-1" not in ot.tables.orders


# --- the three agents chained, outputs fed to the next agent's input -----------------------


async def test_pipeline_from_created_to_classified(outputs: Outputs) -> None:
    raw = dumps(created("SO-1", "C-1", "12800.00", vip=True))
    confirm = dumps(status("SO-1", "new", "confirmed"))
    async with ingest_created.test_context() as agent:
        await deliver(agent, raw, topic=CREATED, key=b"SO-1")
    (by_customer,) = outputs.kwargs("by_customer")

    async with customer_history.test_context() as agent:
        await deliver(
            agent,
            by_customer["value"],
            topic=BY_CUSTOMER,
            key=by_customer["key"],
            headers=by_customer["headers"],
        )
    (forwarded,) = outputs.kwargs("enriched")

    async with order_book.test_context() as agent:
        await deliver(agent, confirm, topic=STATUS, key=b"SO-1")  # overtakes its order
        await deliver(
            agent,
            wire(forwarded["value"], "enriched_order"),
            topic=ENRICHED,
            key=forwarded["key"],
        )

    records: list[ClassifiedOrder] = outputs.values("classified")
    assert [(r.status.value, r.priority.value) for r in records] == [
        ("new", "P1"),
        ("confirmed", "P1"),
    ]
    assert sorted(n.kind for n in outputs.values("notifications")) == [
        "high_value_order",
        "vip_order",
    ]
    assert outputs.kwargs("deadletter") == []
