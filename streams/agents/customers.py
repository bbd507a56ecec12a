"""Created orders keyed by customer -> count into the customer's history -> re-key by order."""

from __future__ import annotations

from faust import StreamT
from faust.types.tuples import Message

from schemas.events import OrderCreated
from streams import offsets
from streams.app import app, deadletters, metrics, tables, topics
from streams.classify.customers import CustomerSnapshot, apply_order, counted_at
from streams.deadletters import SOURCE_HEADER, headers_of
from streams.records import CountedOrder, EnrichedOrder, Source


@app.agent(topics.by_customer, name="customer-history")
async def customer_history(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        await deadletters.process(event.message, count_order)


async def count_order(message: Message) -> None:
    """Count a created order into its customer's history once, then pass it on enriched.

    Two changelog records per order (the customer's totals, and which event counted the
    order): a crash can keep either without the other, so each replay of the record that
    counted an order repairs whichever is missing, and the totals record the offsets they
    hold (``CustomerStats.last_offset``) so a replay never counts twice.
    """
    source = Source.model_validate_json(headers_of(message)[SOURCE_HEADER])
    created = OrderCreated.model_validate_json(message.value)  # validated on ingest
    order = created.order
    customer_id = order.customer.customer_id
    seen_key = f"{customer_id}/{order.order_id}"
    offset = message.offset
    stats = tables.customers.get(customer_id)
    counted = tables.customer_orders.get(seen_key)
    if counted is not None and counted.position == source.position:
        # Our own replay (a crash or rebalance after counting), or the same record sent
        # again upstream: re-send what was sent then; the order agent recognises it too.
        metrics.replayed_events.labels(topic=message.topic).inc()
        if counted.offset == offset and (stats is None or stats.last_offset < offset):
            # The crash kept "counted" but lost the totals: count them again, once.
            stats, _ = apply_order(stats, order, offset, _committed(message))
            tables.customers[customer_id] = stats
        await forward(created, counted.customer, source)
        return
    if counted is not None:
        same = counted.event_id == created.event_id
        await deadletters.send(
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
        stats, snapshot = apply_order(stats, order, offset, _committed(message))
        tables.customers[customer_id] = stats
    else:
        # The crash kept the totals but lost "counted": write it again, counting nothing.
        metrics.replayed_events.labels(topic=message.topic).inc()
    tables.customer_orders[seen_key] = CountedOrder(
        event_id=created.event_id, position=source.position, offset=offset, customer=snapshot
    )
    await forward(created, snapshot, source)


def _committed(message: Message) -> int | None:
    return offsets.committed(app, message.topic, message.partition)


async def forward(created: OrderCreated, customer: CustomerSnapshot, source: Source) -> None:
    await topics.enriched.send(
        key=created.order.order_id.encode(),
        value=EnrichedOrder(event=created, customer=customer, source=source),
        # So a processing error in the order agent dead-letters with the user's coordinates.
        headers=[(SOURCE_HEADER, source.model_dump_json().encode())],
    )
