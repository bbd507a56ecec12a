"""Status changes that arrived before their order: parked, applied when it comes, expired.

Created orders take two internal hops, so their status changes often overtake them. A parked
change waits in the ``parked-status`` table; the order's creation applies it; if the order
does not come within the grace (measured on the created path's progress, not the clock
alone), it is dead-lettered as ``unknown_order``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson
from faust.exceptions import ConsumerNotStarted
from faust.types import TP
from faust.types.tuples import Message

from schemas.events import StatusChanged
from streams.app import Worker
from streams.classify.parking import CreatedProgress
from streams.records import OrderState, ParkedStatus, ParkedStatuses, Source
from streams.runtime import offsets

Apply = Callable[[OrderState, StatusChanged, bytes, Source], Awaitable[None]]


def unapplied(parked: ParkedStatuses, state: OrderState) -> list[str]:
    """Event ids of ``parked`` that ``state`` has not applied."""
    ids = [orjson.loads(p.raw).get("event_id") for p in parked.events]
    return [i for i in ids if i not in state.applied and i not in state.parked_handled]


class Parking:
    def __init__(self, w: Worker, apply: Apply) -> None:
        self.w = w
        self.apply = apply
        #: In memory, per worker: how far the created stream has got (when parking gives up).
        self.created_progress = CreatedProgress()
        #: Per partition: orders that applied parked status changes -> the input (topic,
        #: offset) whose processing did it. Their parked entries are deleted only once that
        #: offset is committed: by then the order's write is in its changelog (Faust flushes
        #: before it commits), so a crash cannot keep the deletion and lose the order.
        self.settling: dict[int, dict[str, tuple[str, int]]] = {}
        t = w.topics
        self.enriched = t.enriched.get_topic_name()
        self.upstream = {t.created.get_topic_name(), t.by_customer.get_topic_name(), self.enriched}

    def assigned(self, assigned: set[TP]) -> None:
        """Partitions moved: forget those lost, restart the grace clocks of those held."""
        kept = {tp.partition for tp in assigned if tp.topic == self.enriched}
        for partition in set(self.settling) - kept:  # a partition gained later is recovered anew
            del self.settling[partition]
        now = time.time()
        for tp in assigned:
            if tp.topic == self.enriched:
                self.created_progress.assigned(tp.partition, now)

    def park(self, order_id: str, message: Message, source: Source) -> None:
        tables = self.w.tables
        parked = tables.parked.get(order_id) or ParkedStatuses()
        entry = ParkedStatus(
            raw=message.value.decode(),
            source=source,
            parked_at=time.time(),
            partition=None if message.partition == source.partition else message.partition,
        )
        tables.parked[order_id] = ParkedStatuses(events=[*parked.events, entry])
        self.created_progress.parked(message.partition, source.timestamp)
        self.w.metrics.parked_status_events.inc()

    def created(self, partition: int, timestamp: float) -> None:
        self.created_progress.saw(partition, timestamp, time.time())

    async def order_arrived(self, order_id: str, partition: int, topic: str, offset: int) -> None:
        """Apply what waited for the order just created by ``topic@offset``."""
        parked = self.w.tables.parked.get(order_id)
        if parked is not None:
            self.w.metrics.parked_status_events.dec(len(parked.events))
            self.settling.setdefault(partition, {})[order_id] = (topic, offset)
            await self.replay(parked)

    async def catch_up(self, order_id: str, partition: int, topic: str, offset: int) -> bool:
        """Apply the parked changes an existing order does not hold yet; whether there were any.

        Only after a crash: the order's creation applied them, and the writes that recorded it
        were lost while the recovered order was not. They come before any later change.
        """
        state = self.w.tables.orders.get(order_id)
        parked = self.w.tables.parked.get(order_id)
        if state is None or parked is None or not unapplied(parked, state):
            return False
        self.settling.setdefault(partition, {})[order_id] = (topic, offset)
        await self.replay(parked)
        return True

    async def replay(self, parked: ParkedStatuses) -> None:
        """Apply status changes that waited for their order, in event-time order.

        Those dead-lettered instead (a duplicate, an invalid transition) are recorded in the
        order as handled, so a later catch-up does not take them for lost and send them again.
        """
        orders = self.w.tables.orders
        changes = [(StatusChanged.model_validate_json(p.raw), p) for p in parked.events]
        for change, entry in sorted(changes, key=lambda c: c[0].occurred_at):
            await self.apply(orders[change.order_id], change, entry.raw.encode(), entry.source)
        if changes:
            order_id = changes[0][0].order_id
            state = orders[order_id]
            if unapplied(parked, state):
                handled = [change.event_id for change, _ in changes]
                orders[order_id] = state.model_copy(update={"parked_handled": handled})

    def settle(self, partition: int) -> None:
        """Delete the parked entries that orders applied, once those orders' writes are safe."""
        pending = self.settling.get(partition)
        if not pending:
            return
        for order_id, (topic, offset) in list(pending.items()):
            committed = offsets.committed(self.w.app, topic, partition)
            if committed is not None and offset < committed:
                del pending[order_id]
                if order_id in self.w.tables.parked:
                    del self.w.tables.parked[order_id]

    async def expire(self, partition: int, now: float) -> None:
        """Dead-letter parked status changes of ``partition`` whose order is not coming."""
        tables, progress = self.w.tables, self.created_progress
        self.settle(partition)
        grace = self.w.settings.status_grace_seconds
        if self.upstream_backlog():
            # After a restart the created path (two internal hops) can trail the status stream
            # for longer than the grace: "idle" must mean caught up, not merely quiet.
            progress.busy_upstream(time.time())
        if not progress.worth_scanning(partition, now, grace):
            return
        oldest_left: float | None = None
        pending = self.settling.get(partition, {})
        for order_id, parked in list(tables.parked.items()):
            mine = [p for p in parked.events if p.parked_on == partition]
            state = tables.orders.get(order_id)
            if mine and state is not None:
                # Applied when the order came. Not settling in this process: recovered from
                # the changelogs after a restart or a rebalance, so the order's write is safe.
                # If the order does not hold them all, its creation's replay applies them.
                if order_id not in pending and not unapplied(parked, state):
                    del tables.parked[order_id]
                continue
            expired = [
                p
                for p in mine
                if progress.gave_up(partition, p.source.timestamp, p.parked_at, now, grace)
            ]
            for p in mine:
                if p not in expired:
                    ts = p.source.timestamp
                    oldest_left = ts if oldest_left is None else min(oldest_left, ts)
            if not expired:
                continue
            kept = [p for p in parked.events if p not in expired]
            if kept:
                tables.parked[order_id] = ParkedStatuses(events=kept)
            else:
                del tables.parked[order_id]
            self.w.metrics.parked_status_events.dec(len(expired))
            for entry in expired:
                await self.w.deadletters.send(
                    value=entry.raw.encode(),
                    source=entry.source,
                    code="unknown_order",
                    reason=f"no order {order_id} arrived within {grace:g}s",
                    error_class="UnknownOrder",
                )
        progress.scanned(partition, oldest_left)

    def upstream_backlog(self) -> int:
        """Records of the created path assigned here and not yet committed.

        Only this worker's partitions are known, so with several workers another one's
        backlog is not seen (the watermark rule still applies).
        """
        app = self.w.app
        consumer = app.consumer
        try:
            highs = {
                tp: consumer.highwater(tp)
                for tp in consumer.assignment()
                if tp.topic in self.upstream
            }
        except ConsumerNotStarted:  # agent tests run without a Kafka consumer
            return 0
        total = 0
        for tp, high in highs.items():
            if high is None:
                continue
            done = offsets.committed(app, tp.topic, tp.partition)
            if done is not None:  # unknown (nothing committed yet): no evidence of a backlog
                total += max(0, high - done)
        return total
