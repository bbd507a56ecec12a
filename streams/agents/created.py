"""``orders.created`` -> validate -> seal contact fields -> re-key by customer id."""

from __future__ import annotations

import time

from faust import StreamT
from faust.types.tuples import Message

from schemas.events import OrderCreated
from streams.app import Worker
from streams.privacy.contact import seal_transit
from streams.runtime.deadletters import SOURCE_HEADER, source_of


class Ingest:
    def __init__(self, w: Worker) -> None:
        self.w = w

    async def run(self, stream: StreamT[bytes]) -> None:
        metrics, deadletters = self.w.metrics, self.w.deadletters
        async for event in stream.events():
            started = time.perf_counter()
            metrics.events_consumed.labels(topic=event.message.topic).inc()
            await deadletters.process(event.message, self.route)
            metrics.processing_seconds.labels(topic=event.message.topic).observe(
                time.perf_counter() - started
            )

    async def route(self, message: Message) -> None:
        """Validate; forward it keyed by customer with its contact fields sealed, or dead-letter
        the reason. Nothing after this stage sees a name, e-mail or phone in clear."""
        created = await self.w.deadletters.decode(
            OrderCreated, message, max_bytes=self.w.settings.max_value_bytes
        )
        if created is None:
            return
        # Created orders are re-keyed anyway, so any partitioning is fine here; counted only,
        # so operators see which producer pattern their upstream uses.
        order_id = created.order.order_id
        pattern = self.w.routing.misrouted(message.topic, message.key, message.partition, order_id)
        if pattern is not None:
            self.w.metrics.misrouted_records.labels(topic=message.topic, pattern=pattern).inc()
        source = source_of(message)
        # The source coordinates ride in a header so a later dead letter (a duplicate) still
        # points at the record the user produced (whose bytes the input topic keeps).
        await self.w.topics.by_customer.send(
            key=created.order.customer.customer_id.encode(),
            value=seal_transit(created, self.w.keyring).model_dump_json().encode(),
            headers=[(SOURCE_HEADER, source.model_dump_json().encode())],
        )


def register(w: Worker) -> Ingest:
    ingest = Ingest(w)

    async def ingest_created(stream: StreamT[bytes]) -> None:
        await ingest.run(stream)

    w.app.agent(w.topics.created, name="ingest-created")(ingest_created)
    return ingest
