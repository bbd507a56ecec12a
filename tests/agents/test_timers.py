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


async def test_after_the_first_tick_timers_sweeps_and_gauges_never_scan_the_table(
    outputs: Outputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One scan per assignment; every later write keeps each order's digest up to date (with
    RocksDB a scan decodes every order: minutes of the event loop with 1M orders)."""
    from tests.agents.conftest import AGENTS
    from tests.integration.events import T0

    timers = AGENTS.orders.timers
    first = timers.orders.scans
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(vip_order("SO-a"), "enriched_order"), topic=ENRICHED, partition=0)
        for partition in (0, 1, 0):
            await deliver(agent, tick(T0.timestamp()), topic=TICKS, partition=partition)
        assert timers.orders.scans == first + 1
        for oid in ("SO-b", "SO-c"):
            await deliver(
                agent, wire(vip_order(oid), "enriched_order"), topic=ENRICHED, partition=0
            )
        confirm = dumps(status("SO-b", "new", "confirmed", minutes=10))
        await deliver(agent, confirm, topic=STATUS, key=b"SO-b", partition=0)
        cancel = dumps(status("SO-c", "new", "cancelled", minutes=10))
        await deliver(agent, cancel, topic=STATUS, key=b"SO-c", partition=0)
        timers.observe({0})
        open_now = dict(_gauge(ot.metrics.open_orders))
        assert open_now == {("new",): 1.0, ("confirmed",): 1.0}  # SO-c cancelled: finished
        assert _gauge(ot.metrics.overdue_orders) == [((), 0.0)]
        # The 2 h SLA of SO-a fires from the heap built by the one scan; then it is overdue
        # (SO-b, confirmed, runs the 3-day shipping SLA).
        later = T0.timestamp() + 3 * 3600
        await deliver(agent, tick(later), topic=TICKS, partition=0)
        reminded = [n.order_id for n in outputs.values("notifications") if n.kind == "sla_reminder"]
        assert reminded == ["SO-a"]
        with monkeypatch.context() as clock:
            clock.setattr("streams.agents.timers.time.time", lambda: later)
            timers.observe({0})
            assert _gauge(ot.metrics.overdue_orders) == [((), 1.0)]
            timers.observe({1})  # another worker's partition: not counted here
            assert _gauge(ot.metrics.overdue_orders) == [((), 0.0)]
        assert timers.orders.scans == first + 1
        timers.reset()  # partitions moved
        await deliver(agent, tick(T0.timestamp()), topic=TICKS, partition=0)
        assert timers.orders.scans == first + 2


def _gauge(metric: object) -> list[tuple[tuple[str, ...], float]]:
    (family,) = metric.collect()  # type: ignore[attr-defined]
    return [
        (tuple(s.labels.values()), s.value)
        for s in family.samples
        if not s.name.endswith("_created")
    ]
