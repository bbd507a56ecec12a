"""The customer agent: ``orders-by-customer`` -> customers table -> ``orders-enriched``."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streams.records import EnrichedOrder
from tests.agents.builders import (
    BY_CUSTOMER,
    CREATED,
    CUSTOMER_HISTORY,
    source,
    source_header,
)
from tests.agents.conftest import (
    Outputs,
    deliver,
    ot,
)
from tests.integration.events import created, dumps

pytestmark = pytest.mark.timeout(30)


async def test_customer_history_counts_prior_orders(outputs: Outputs) -> None:
    events = [created(f"SO-{n}", "C-1", "300.00") for n in range(3)]
    async with CUSTOMER_HISTORY.test_context() as agent:
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
    async with CUSTOMER_HISTORY.test_context() as agent:
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
    async with CUSTOMER_HISTORY.test_context() as agent:
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
    async with CUSTOMER_HISTORY.test_context() as agent:
        for _ in range(2):
            await deliver(
                agent, dumps(first), topic=BY_CUSTOMER, key=b"C-1", headers=source_header(src)
            )

    sent = outputs.values("enriched")
    assert len(sent) == 2 and sent[0] == sent[1]
    assert sent[0].customer.prior_orders == 0
    assert outputs.dead_letters() == []
    assert ot.tables.customers["C-1"].order_count == 1
