"""Status changes that arrived before their order: parked, applied when it comes, expired.

Created orders take two internal hops, so their status changes often overtake them. A parked
change waits in the ``parked-status`` table; the order's creation applies it; if the order
does not come within the grace (measured on the created path's committed offsets, group-wide,
not the clock alone: ``streams.classify.parking``), it is dead-lettered as ``unknown_order``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.types import TP
from faust.types.tuples import Message

from schemas.events import StatusChanged
from streams.app import Worker
from streams.classify.parking import Drain
from streams.kafka import clients
from streams.records import OrderState, ParkedStatus, ParkedStatuses, Source
from streams.runtime import offsets

log = logging.getLogger("ordertriage.parking")

Apply = Callable[[OrderState, StatusChanged, bytes, Source], Awaitable[None]]


def unapplied(parked: ParkedStatuses, state: OrderState) -> list[str]:
    """Event ids of ``parked`` that ``state`` has not applied."""
    ids = [orjson.loads(p.raw).get("event_id") for p in parked.events]
    return [i for i in ids if i not in state.applied and i not in state.parked_handled]


class Parking:
    def __init__(self, w: Worker, apply: Apply) -> None:
        self.w = w
        self.apply = apply
        t = w.topics
        self.enriched = t.enriched.get_topic_name()
        #: In memory, per worker: how far the created path is drained (when parking gives up).
        path = (t.created.get_topic_name(), t.by_customer.get_topic_name(), self.enriched)
        self.drain = Drain(stages=path)
        self._admin: AIOKafkaAdminClient | None = None
        #: Per partition: the earliest ``parked_at`` left after the last scan (None: none left;
        #: absent: unknown, scan). Scans are O(table); most ticks need none.
        self.oldest_parked: dict[int, float | None] = {}
        #: Per partition: orders that applied parked status changes -> the input (topic,
        #: offset) whose processing did it. Their parked entries are deleted only once that
        #: offset is committed: by then the order's write is in its changelog (Faust flushes
        #: before it commits), so a crash cannot keep the deletion and lose the order.
        self.settling: dict[int, dict[str, tuple[str, int]]] = {}

    def assigned(self, assigned: set[TP]) -> None:
        """Partitions moved: forget those lost; rescan the parked changes of those held."""
        kept = {tp.partition for tp in assigned if tp.topic == self.enriched}
        for partition in set(self.settling) - kept:  # a partition gained later is recovered anew
            del self.settling[partition]
        self.oldest_parked.clear()

    async def sample(self) -> None:
        """One step of the drain barrier: the group's committed offsets, then the end offsets
        of every partition of the created path (in that order: see ``Drain.step``)."""
        app = self.w.app
        thread = app.consumer._thread  # type: ignore[attr-defined]
        client = thread._ensure_consumer()
        tps = [
            TopicPartition(topic, p)
            for topic in self.drain.stages
            for p in sorted(client.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return
        now = time.time()
        try:
            if self._admin is None:
                self._admin = clients.admin(self.w.settings.bootstrap, topics=self.drain.stages)
                await self._admin.start()
            offsets = await self._admin.list_consumer_group_offsets(app.conf.id, partitions=tps)
            ends = await thread.call_thread(client.end_offsets, tps)
        except Exception as exc:  # the broker is away: decide on the next sample
            log.debug("parking: no offsets (%r); trying again", exc)
            admin, self._admin = self._admin, None
            if admin is not None:
                await admin.close()
            return
        committed = {tp: max(0, m.offset) for tp, m in offsets.items()}
        self.drain.step(now, committed, ends, {tp: tp.topic for tp in ends})
        self.w.metrics.created_path_drained_seconds.set(
            now - self.drain.through if self.drain.through is not None else float("nan")
        )

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()

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
        if self.oldest_parked.get(message.partition, 0.0) is None:
            self.oldest_parked[message.partition] = entry.parked_at
        self.w.metrics.parked_status_events.inc()

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

    def applied_last(self, order_id: str, state: OrderState) -> StatusChanged | None:
        """The parked change ``state`` applied last, if there is one (still parked: the
        creation that applied it is not committed yet, so its outputs may not have left)."""
        parked = self.w.tables.parked.get(order_id)
        last = state.classification.event_id
        for entry in parked.events if parked is not None else ():
            change = StatusChanged.model_validate_json(entry.raw)
            if change.event_id == last:
                return change
        return None

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
        tables, drain = self.w.tables, self.drain
        self.settle(partition)
        grace = self.w.settings.status_grace_seconds
        oldest = self.oldest_parked.get(partition, 0.0)
        if oldest is None or not drain.gave_up(oldest, grace):
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
            expired = [p for p in mine if drain.gave_up(p.parked_at, grace)]
            for p in mine:
                if p not in expired:
                    at = p.parked_at
                    oldest_left = at if oldest_left is None else min(oldest_left, at)
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
        self.oldest_parked[partition] = oldest_left
