"""Open orders re-evaluated on ticks after a rule switch or on the review schedule."""

from __future__ import annotations

import time

import pytest

from streams.records import Tick
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
    AGENTS,
    Outputs,
    deliver,
    ot,
)
from tests.integration.events import dumps, status

pytestmark = pytest.mark.timeout(30)


async def test_rule_switch_reclassifies_open_orders_in_batches_on_ticks(
    outputs: Outputs,
) -> None:
    """A new rule set: open orders of the ticked partition re-evaluated, a batch per tick;
    changed ones re-published once with new notifications only; finished ones left alone."""
    from streams.classify.rules import RuleSet, default_text
    from streams.rules.rulebook import Published

    v2 = RuleSet.from_text(
        default_text()
        .replace("label: default", "label: v2")
        .replace("default: {high: 10000, medium: 1000}", "default: {high: 5000, medium: 2000}")
    )
    AGENTS.orders.reclassify.sweeps.clear()
    now = time.time()
    async with ORDER_BOOK.test_context() as agent:
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
    from streams.classify.rules import RuleSet, default_text
    from streams.rules.rulebook import Published
    from tests.integration.events import T0

    head, tail = default_text().split("\n# The order state machine", 1)
    rule = "  - id: stalled\n    when: {age_hours: {gte: 72}}\n    then: {tags: [stalled]}\n"
    stalled = RuleSet.from_text(f"{head.rstrip()}\n{rule}\n# The order state machine{tail}")
    ot.rulebook.active = Published(stalled)
    AGENTS.orders.reclassify.sweeps.clear()
    review = T0.timestamp() + 80 * 3600
    async with ORDER_BOOK.test_context() as agent:
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
