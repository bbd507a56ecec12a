"""People's corrections (``orders.corrections``) on the order agent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml

from schemas.events import ClassifiedOrder
from streams.classify.engine import reclassify
from streams.classify.rules import RuleSet, default_text
from streams.records import StaffEvent
from tests.agents.builders import ENRICHED, ORDER_BOOK, REROUTED, STATUS, enriched, wire
from tests.agents.conftest import Outputs, deliver, ot
from tests.integration.events import T0, dumps, status

pytestmark = pytest.mark.timeout(30)
CORRECTIONS = ot.topics.corrections.get_topic_name()


def correction(
    order_id: str, dimension: str, value: Any, *, event_id: str = "C-1", by: str = "u-7"
) -> bytes:
    return dumps(
        {
            "event_id": event_id,
            "schema_version": 1,
            "occurred_at": (T0 + timedelta(minutes=3)).isoformat(),
            "order_id": order_id,
            "dimension": dimension,
            "value": value,
            "corrected_by": by,
            "reason": "strategic account",
        }
    )


def classified(outputs: Outputs) -> list[ClassifiedOrder]:
    return outputs.values("classified")


async def test_a_correction_overrides_and_sticks_through_later_status_changes(
    outputs: Outputs,
) -> None:
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        await deliver(agent, correction("SO-1", "priority", "P1"), topic=CORRECTIONS, key=b"SO-1")
        # A P1 order now: the confirm-p1 SLA runs for it.
        assert [c.sla_id for c in ot.tables.orders["SO-1"].clocks] == ["confirm-p1"]
        confirm = dumps(status("SO-1", "new", "confirmed", minutes=5))
        await deliver(agent, confirm, topic=STATUS, key=b"SO-1")

    first, fixed, later = classified(outputs)
    assert first.priority.value != "P1"
    assert fixed.cause == "corrected" and fixed.priority.value == "P1"
    assert fixed.correction is not None
    assert (fixed.correction.decided, fixed.correction.decided_by) == (
        first.priority.value,
        "priority_matrix",
    )
    assert fixed.correction.corrected_by == "u-7"
    assert "corrected to P1 by u-7: strategic account" in fixed.reasons["priority"]
    # The status change re-ran the rules: the person's value stays.
    assert later.cause == "status-changed" and later.priority.value == "P1"
    assert later.correction is None
    assert outputs.dead_letters() == []


async def test_a_rule_switch_does_not_undo_a_correction() -> None:
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-2"), "enriched_order"), topic=ENRICHED)
        raw = correction("SO-2", "tags", ["vip", "bulk"])
        await deliver(agent, raw, topic=CORRECTIONS, key=b"SO-2")
    state = ot.tables.orders["SO-2"]
    assert state.classification.tags == ["bulk", "vip"] and state.facts is not None
    data = yaml.safe_load(default_text())
    data["rules"] = [r for r in data["rules"] if "tags" not in r["then"]]  # no tag rule left
    fewer = RuleSet.model_validate(data)
    again = reclassify(
        state.classification, state.facts, fewer, now=state.classification.classified_at
    )
    assert again is not None  # the switch changed something (rules fired) ...
    assert again.classification.tags == ["bulk", "vip"]  # ... but not the person's tags


async def test_invalid_corrections_are_dead_lettered_with_the_reason(outputs: Outputs) -> None:
    bad = {
        "unknown_order": correction("SO-404", "priority", "P1", event_id="C-a"),
        "wrong_value": correction("SO-3", "value_tier", "platinum", event_id="C-b"),
        "wrong_tag": correction("SO-3", "tags", ["made-up"], event_id="C-c"),
        "not_a_list": correction("SO-3", "tags", "vip", event_id="C-d"),
        "wrong_dimension": correction("SO-3", "colour", "red", event_id="C-e"),
    }
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-3"), "enriched_order"), topic=ENRICHED)
        for name, raw in bad.items():
            key = b"SO-404" if name == "unknown_order" else b"SO-3"
            await deliver(agent, raw, topic=CORRECTIONS, key=key)

    letters = outputs.dead_letters()
    assert [d.value for d in letters] == list(bad.values())
    codes = [d.code for d in letters]
    assert codes[:4] == [
        "unknown_order",
        "invalid_correction",
        "invalid_correction",
        "invalid_correction",
    ]
    assert codes[4] != "invalid_correction"  # refused by the contract (schema), not the vocabulary
    assert "platinum not in the vocabulary" in letters[1].headers["reason"]
    assert "made-up not in the vocabulary" in letters[2].headers["reason"]
    assert [r.cause for r in classified(outputs)] == ["order-created"]


async def test_a_replayed_correction_resends_and_a_copy_is_a_duplicate(outputs: Outputs) -> None:
    raw = correction("SO-4", "value_tier", "high", by="anna.berg")
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-4"), "enriched_order"), topic=ENRICHED)
        first = await deliver(agent, raw, topic=CORRECTIONS, key=b"SO-4")
        await deliver(agent, raw, topic=CORRECTIONS, key=b"SO-4", offset=first.offset)
        await deliver(agent, raw, topic=CORRECTIONS, key=b"SO-4", offset=first.offset + 50)

    records = classified(outputs)
    assert [r.cause for r in records] == ["order-created", "corrected", "corrected"]
    assert records[1] == records[2]  # the replay re-sent the same record
    assert [d.code for d in outputs.dead_letters()] == ["duplicate_event"]
    staff: list[StaffEvent] = outputs.values("staff_events")
    assert [e.kind for e in staff] == ["correction_made", "correction_made"]
    assert {e.event_id for e in staff} == {"C-1:correction_made:anna.berg"}


async def test_correcting_a_persons_value_counts_as_received_by_them(outputs: Outputs) -> None:
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-5"), "enriched_order"), topic=ENRICHED)
        for event_id, by, tier in (("C-1", "u-1", "high"), ("C-2", "u-2", "medium")):
            raw = correction("SO-5", "value_tier", tier, event_id=event_id, by=by)
            await deliver(agent, raw, topic=CORRECTIONS, key=b"SO-5")

    second = classified(outputs)[-1].correction
    assert second is not None
    assert (second.decided, second.decided_by, second.value) == (
        "high",
        "correction by u-1",
        "medium",
    )
    staff: list[StaffEvent] = outputs.values("staff_events")
    assert [(e.kind, e.person) for e in staff] == [
        ("correction_made", "u-1"),
        ("correction_made", "u-2"),
        ("correction_received", "u-1"),
    ]


async def test_status_changes_tell_who_handled_the_order_and_for_how_long(
    outputs: Outputs,
) -> None:
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-6"), "enriched_order"), topic=ENRICHED)
        for n, (a, b) in enumerate((("new", "confirmed"), ("confirmed", "processing"))):
            change = status("SO-6", a, b, minutes=5 + 30 * n, event_id=f"S-{n}")
            change["changed_by"] = ["li.wei", "tom.hill"][n]
            await deliver(agent, dumps(change), topic=STATUS, key=b"SO-6")

    staff: list[StaffEvent] = outputs.values("staff_events")
    assert [(e.kind, e.person, e.status, e.seconds) for e in staff] == [
        ("status_change", "li.wei", "confirmed", None),
        ("held", "li.wei", "confirmed", 1800.0),
        ("status_change", "tom.hill", "processing", None),
    ]
    assert ot.tables.orders["SO-6"].holder == "tom.hill"


async def test_a_misrouted_correction_is_rerouted_then_applied(outputs: Outputs) -> None:
    raw = correction("SO-7", "customer_segment", "vip")
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-7"), "enriched_order"), topic=ENRICHED)
        await deliver(agent, raw, topic=CORRECTIONS, key=None, partition=2)
        (sent,) = outputs.kwargs("status_rerouted")
        await deliver(
            agent, sent["value"], topic=REROUTED, key=sent["key"], headers=sent["headers"]
        )

    assert sent["key"] == b"SO-7"
    fixed = classified(outputs)[-1]
    assert fixed.cause == "corrected" and fixed.customer_segment.value == "vip"
    assert outputs.dead_letters() == []
