"""SLA timers on the order agent's ticks: reminders, escalations, retention."""

from __future__ import annotations

import pytest

from tests.agents.builders import (
    ENRICHED,
    ORDER_BOOK,
    STATUS,
    TICKS,
    enriched,
    tick,
    vip_order,
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


async def test_sla_reminder_then_escalations_once_each_and_met_deadlines_stay_quiet(
    outputs: Outputs,
) -> None:
    from tests.integration.events import T0

    due = T0.timestamp() + 2 * 3600  # confirm-p1: within 2h, then every 1h up the ladder
    async with ORDER_BOOK.test_context() as agent:
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
