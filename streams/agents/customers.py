"""Created orders keyed by customer -> count into the customer's history -> re-key by order."""

from __future__ import annotations

from faust import StreamT
from faust.types.tuples import Message

from schemas.events import OrderCreated
from streams.app import app, deadletters, rules, tables, topics
from streams.classify.customers import apply_order
from streams.deadletters import SOURCE_HEADER, headers_of
from streams.records import EnrichedOrder, Source


@app.agent(topics.by_customer, name="customer-history")
async def customer_history(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        async with deadletters.guard(event.message):
            await count_order(event.message)


async def count_order(message: Message) -> None:
    """Count a created order into its customer's history once, then pass it on enriched."""
    source = Source.model_validate_json(headers_of(message)[SOURCE_HEADER])
    created = OrderCreated.model_validate_json(message.value)  # validated on ingest
    order = created.order
    customer_id = order.customer.customer_id
    seen_key = f"{customer_id}/{order.order_id}"
    counted_by = tables.customer_orders.get(seen_key)
    if counted_by is not None:
        same = counted_by == created.event_id
        await deadletters.send(
            value=message.value,
            source=source,
            code="duplicate_event" if same else "duplicate_order",
            reason=(
                f"event {created.event_id} was already applied"
                if same
                else f"order {order.order_id} was already created by event {counted_by}"
            ),
            error_class="Duplicate",
        )
        return
    stats, snapshot = apply_order(tables.customers.get(customer_id), order, rules)
    tables.customers[customer_id] = stats
    tables.customer_orders[seen_key] = created.event_id
    await topics.enriched.send(
        key=order.order_id.encode(),
        value=EnrichedOrder(event=created, customer=snapshot, source=source),
    )
