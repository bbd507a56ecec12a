"""Created orders keyed by customer -> count into the customer's history -> re-key by order."""

from __future__ import annotations

from faust import StreamT
from faust.types.tuples import Message

from schemas.events import OrderCreated
from streams.agents.erasure import Erasure
from streams.app import Worker
from streams.classify.customers import CustomerSnapshot, apply_order, counted_at
from streams.classify.ledger import Seen, by_identity, by_watermark
from streams.privacy.contact import CustomerKey, reseal
from streams.privacy.crypto import new_data_key
from streams.records import CountedOrder, EnrichedOrder, Source
from streams.runtime import offsets
from streams.runtime.deadletters import SOURCE_HEADER, headers_of
from streams.topics import ERASE_HEADER


class CustomerHistory:
    def __init__(self, w: Worker) -> None:
        self.w = w
        self.erasure = Erasure(w)

    async def run(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await self.w.deadletters.process(event.message, self.handle)

    async def handle(self, message: Message) -> None:
        # An erasure request rides on this topic, keyed by customer: it is ordered with the
        # customer's orders and handled by the one agent that writes their tables.
        if ERASE_HEADER in headers_of(message):
            await self.erasure.erase(message)
        else:
            await self.count_order(message)

    async def count_order(self, message: Message) -> None:
        """Count a created order into its customer's history once, then pass it on enriched.

        Two changelog records per order (the customer's totals, and which event counted the
        order): a crash can keep either without the other, so each replay of the record that
        counted an order repairs whichever is missing, and the totals record the offsets they
        hold (``CustomerStats.last_offset``) so a replay never counts twice.
        """
        tables, metrics = self.w.tables, self.w.metrics
        source = Source.model_validate_json(headers_of(message)[SOURCE_HEADER])
        created = OrderCreated.model_validate_json(message.value)  # validated on ingest
        order = created.order
        customer_id = order.customer.customer_id
        key = tables.customer_keys.get(customer_id)
        if (
            key is not None
            and key.erased_offset is not None
            and message.offset <= key.erased_offset
        ):
            # Counted and sent before the erasure (a replay): counting it again would bring
            # back what was erased.
            metrics.replayed_events.labels(topic=message.topic).inc()
            return
        created = self.sealed(created, key)
        seen_key = f"{customer_id}/{order.order_id}"
        offset = message.offset
        stats = tables.customers.get(customer_id)
        counted = tables.customer_orders.get(seen_key)
        seen = by_identity(counted.position if counted else None, source.position)
        if counted is not None and seen is Seen.REPLAY:
            # Our own replay (a crash or rebalance after counting), or the same record sent
            # again upstream: re-send what was sent then; the order agent recognises it too.
            metrics.replayed_events.labels(topic=message.topic).inc()
            lost_totals = stats is None or by_watermark(stats.last_offset, offset) is Seen.FIRST
            if counted.offset == offset and lost_totals:
                # The crash kept "counted" but lost the totals: count them again, once.
                stats, _ = apply_order(stats, order, offset, self._committed(message))
                tables.customers[customer_id] = stats
            await self.forward(created, counted.customer, source)
            return
        if counted is not None:  # Seen.DUPLICATE: the order was counted from another record
            same = counted.event_id == created.event_id
            await self.w.deadletters.send(
                value=message.value,
                source=source,
                code="duplicate_event" if same else "duplicate_order",
                reason=(
                    f"event {created.event_id} was already applied"
                    if same
                    else f"order {order.order_id} was already created by event {counted.event_id}"
                ),
                error_class="Duplicate",
            )
            return
        snapshot = counted_at(stats, offset)
        if snapshot is None:
            stats, snapshot = apply_order(stats, order, offset, self._committed(message))
            tables.customers[customer_id] = stats
        else:
            # The crash kept the totals but lost "counted": write it again, counting nothing.
            metrics.replayed_events.labels(topic=message.topic).inc()
        tables.customer_orders[seen_key] = CountedOrder(
            event_id=created.event_id, position=source.position, offset=offset, customer=snapshot
        )
        await self.forward(created, snapshot, source)

    def sealed(self, created: OrderCreated, key: CustomerKey | None) -> OrderCreated:
        """The contact fields moved from the transit key to the customer's data key.

        The first order of a customer (or the first after an erasure) makes a new data key.
        """
        ring, customer_id = self.w.keyring, created.order.customer.customer_id
        if key is None or key.wrapped is None:
            version = key.version + 1 if key is not None else 1
            data_key = new_data_key()
            key = CustomerKey(version=version, wrapped=ring.wrap(data_key, customer_id))
            self.w.tables.customer_keys[customer_id] = key
        else:
            data_key = ring.unwrap(key.wrapped, customer_id)
        return reseal(created, ring, data_key, key.version)

    def _committed(self, message: Message) -> int | None:
        return offsets.committed(self.w.app, message.topic, message.partition)

    async def forward(
        self, created: OrderCreated, customer: CustomerSnapshot, source: Source
    ) -> None:
        await self.w.topics.enriched.send(
            key=created.order.order_id.encode(),
            value=EnrichedOrder(event=created, customer=customer, source=source),
            # So a processing error in the order agent dead-letters with the user's coordinates.
            headers=[(SOURCE_HEADER, source.model_dump_json().encode())],
        )


def register(w: Worker) -> CustomerHistory:
    history = CustomerHistory(w)

    async def customer_history(stream: StreamT[bytes]) -> None:
        await history.run(stream)

    w.app.agent(w.topics.by_customer, name="customer-history")(customer_history)
    return history
