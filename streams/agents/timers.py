"""Per-order timers: SLA reminders and escalations, and removal of finished orders.

Deadlines live in each order's state (so they survive restarts and partition moves); this
module only keeps, per partition, an in-memory heap of (wake-up time, order id) so a tick
does not scan the table. The heap is rebuilt from the orders' digests
(``streams.agents.open_orders``) the first time a partition is ticked after an assignment,
and stale entries are checked against the state when popped.
"""

from __future__ import annotations

import heapq
import logging
import time
from datetime import UTC, datetime

from schemas.events import Notification
from streams.agents.open_orders import OpenOrders
from streams.app import Worker
from streams.classify import sla
from streams.records import OrderState, StaffEvent

log = logging.getLogger("ordertriage.timers")


class Timers:
    def __init__(self, w: Worker) -> None:
        self.w = w
        self.heaps: dict[int, list[tuple[float, str]]] = {}
        #: Each order's wake-up and what the gauges count, kept up to date on every write.
        self.orders = OpenOrders(w.tables.orders, self.wakeup)

    def reset(self) -> None:
        """Partitions moved: rebuild every heap (and the digests) on its next tick."""
        self.heaps.clear()
        self.orders.reset()

    def wakeup(self, state: OrderState) -> float | None:
        """When this order needs attention next: an SLA step, or its removal."""
        times = []
        due = sla.next_wakeup(state.clocks)
        if due is not None:
            times.append(due.timestamp())
        if state.finished_at is not None:
            times.append(state.finished_at + self.w.settings.finished_retention_seconds)
        return min(times) if times else None

    def schedule(self, partition: int, order_id: str, state: OrderState) -> None:
        when = self.wakeup(state)
        if when is not None and partition in self.heaps:
            heapq.heappush(self.heaps[partition], (when, order_id))

    def _heap(self, partition: int) -> list[tuple[float, str]] | None:
        """The partition's heap; None while the orders are still being scanned."""
        if partition not in self.heaps:
            digests = self.orders.of_partition(partition)
            if digests is None:
                return None
            entries = [(d.wakeup, order_id) for order_id, d in digests if d.wakeup is not None]
            heapq.heapify(entries)
            self.heaps[partition] = entries
        return self.heaps[partition]

    async def fire(self, partition: int, now: float) -> None:
        """Send the SLA steps due by ``now`` and remove finished orders past their retention."""
        orders = self.w.tables.orders
        heap = self._heap(partition)
        if heap is None:  # steps due meanwhile fire on the first tick after the scan
            return
        at = datetime.fromtimestamp(now, UTC)
        retention = self.w.settings.finished_retention_seconds
        while heap and heap[0][0] <= now:
            _, order_id = heapq.heappop(heap)
            state = orders.get(order_id)
            if state is None:
                continue
            when = self.wakeup(state)
            if when is None or when > now:  # stale entry: met, cancelled or already handled
                if when is not None:
                    heapq.heappush(heap, (when, order_id))
                continue
            if state.finished_at is not None and now >= state.finished_at + retention:
                del orders[order_id]
                self.w.metrics.orders_expired.inc()
                continue
            clocks, due = sla.fire_due(state.clocks, state.classification, at)
            state = state.model_copy(update={"clocks": clocks})
            orders[order_id] = state
            for step, note in due:
                await self._send(note, step)
                if step == 0 and state.holder is not None:
                    await self._breach(state, note)
            self.schedule(partition, order_id, state)

    async def _send(self, note: Notification, step: int) -> None:
        metrics = self.w.metrics
        await self.w.topics.notifications.send(key=note.order_id.encode(), value=note)
        metrics.notifications.labels(kind=note.kind).inc()
        if step == 0:
            metrics.sla_breaches.labels(sla=note.rule_id or "").inc()
        else:
            metrics.escalations.labels(level=str(step)).inc()

    async def _breach(self, state: OrderState, note: Notification) -> None:
        """An SLA missed while the order was in someone's hands counts in their KPIs."""
        holder = state.holder
        assert holder is not None
        event = StaffEvent(
            event_id=f"{note.notification_id}:sla_breach:{holder}",
            person=holder,
            team=state.classification.team,
            kind="sla_breach",
            subject=state.classification.order_id,
            occurred_at=note.created_at,
            status=state.classification.status.value,
        )
        await self.w.topics.staff_events.send(key=holder.encode(), value=event)

    def observe(self, owned: set[int]) -> None:
        """Gauges of open orders per status, their oldest age, and overdue orders (read-only)."""
        digests = self.orders.built()
        if digests is None:  # no tick since the assignment: the order agent builds them
            return
        metrics = self.w.metrics
        now = time.time()
        counts: dict[str, int] = {}
        oldest: dict[str, float] = {}
        overdue = 0
        for d in list(digests.values()):
            if d.partition not in owned or not d.open:
                continue
            counts[d.status] = counts.get(d.status, 0) + 1
            if d.status_since is not None:
                oldest[d.status] = max(oldest.get(d.status, 0.0), now - d.status_since)
            overdue += d.overdue_at is not None and d.overdue_at <= now
        metrics.open_orders.clear()
        metrics.oldest_open_seconds.clear()
        for status, n in counts.items():
            metrics.open_orders.labels(status=status).set(n)
            metrics.oldest_open_seconds.labels(status=status).set(oldest.get(status, 0.0))
        metrics.overdue_orders.set(overdue)
