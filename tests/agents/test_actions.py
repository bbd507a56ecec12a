"""People's actions (``orders.actions``, from ``ordertriage notify``) on the order agent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.events import Notification, OrderAction
from tests.agents.builders import ENRICHED, ORDER_BOOK, TICKS, tick, vip_order, wire
from tests.agents.conftest import Outputs, deliver, ot
from tests.integration.events import T0

pytestmark = pytest.mark.timeout(30)
ACTIONS = ot.topics.actions.get_topic_name()


def ack(note: Notification, action_id: str = "A-1") -> bytes:
    return (
        OrderAction(
            action_id=action_id,
            action="ack",
            order_id=note.order_id,
            notification_id=note.notification_id,
            kind=note.kind,
            rule_id=note.rule_id,
            cause_event_id=note.cause_event_id,
            by="li.wei",
            acted_at=datetime.now(UTC),
        )
        .model_dump_json()
        .encode()
    )


async def test_an_acknowledged_sla_stops_escalating_and_a_second_click_changes_nothing(
    outputs: Outputs,
) -> None:
    due = T0.timestamp() + 2 * 3600  # confirm-p1: within 2h, then every 1h up the ladder
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(vip_order("SO-A"), "enriched_order"), topic=ENRICHED)
        await deliver(agent, tick(due + 1), topic=TICKS)
        (reminder,) = [n for n in outputs.values("notifications") if n.kind == "sla_reminder"]
        raw = ack(reminder)
        await deliver(agent, raw, topic=ACTIONS, key=b"SO-A")
        await deliver(agent, raw, topic=ACTIONS, key=b"SO-A", offset=99)  # written twice
        for at in (due + 3600, due + 3 * 3600, due + 10 * 3600):
            await deliver(agent, tick(at), topic=TICKS)

    kinds = [n.kind for n in outputs.values("notifications") if n.kind.startswith("sla_")]
    assert kinds == ["sla_reminder"]  # no escalation after the acknowledgement
    (clock,) = ot.tables.orders["SO-A"].clocks
    assert clock.fired == len(clock.ladder)
    assert "A-1" in ot.tables.orders["SO-A"].applied
    assert outputs.dead_letters() == []


async def test_an_action_for_an_unknown_order_is_dead_lettered(outputs: Outputs) -> None:
    due = T0.timestamp() + 2 * 3600
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(vip_order("SO-B"), "enriched_order"), topic=ENRICHED)
        await deliver(agent, tick(due + 1), topic=TICKS)
        (reminder,) = [n for n in outputs.values("notifications") if n.kind == "sla_reminder"]
        stray = ack(reminder.model_copy(update={"order_id": "SO-404"}))
        await deliver(agent, stray, topic=ACTIONS, key=b"SO-404")
    (letter,) = outputs.dead_letters()
    assert letter.code == "unknown_order" and letter.value == stray
