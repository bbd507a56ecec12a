"""``orders.created`` -> validate -> re-key by customer id (the customers table's key)."""

from __future__ import annotations

import time

from faust import StreamT
from faust.types.tuples import Message

from schemas.events import OrderCreated
from streams.app import app, deadletters, metrics, settings, topics
from streams.deadletters import SOURCE_HEADER, source_of


@app.agent(topics.created, name="ingest-created")
async def ingest_created(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        started = time.perf_counter()
        metrics.events_consumed.labels(topic=event.message.topic).inc()
        await deadletters.process(event.message, route)
        metrics.processing_seconds.labels(topic=event.message.topic).observe(
            time.perf_counter() - started
        )


async def route(message: Message) -> None:
    """Validate; forward the original bytes keyed by customer, or dead-letter with the reason."""
    created = await deadletters.decode(OrderCreated, message, max_bytes=settings.max_value_bytes)
    if created is None:
        return
    source = source_of(message)
    # The original bytes travel on; the source coordinates ride in a header so a later
    # dead letter (a duplicate) still points at the record the user produced.
    await topics.by_customer.send(
        key=created.order.customer.customer_id.encode(),
        value=message.value,
        headers=[(SOURCE_HEADER, source.model_dump_json().encode())],
    )
