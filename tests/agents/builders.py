"""Records as the agents read them, built for the agent tests."""

from __future__ import annotations

import time

from faust.serializers import codecs

from schemas.events import OrderCreated
from streams.classify.customers import apply_order
from streams.records import EnrichedOrder, ParkedStatus, ParkedStatuses, Source, Tick
from streams.runtime.deadletters import SOURCE_HEADER
from tests.agents.conftest import ot
from tests.integration.events import created, dumps

CREATED = ot.topics.created.get_topic_name()
BY_CUSTOMER = ot.topics.by_customer.get_topic_name()
ENRICHED = ot.topics.enriched.get_topic_name()
STATUS = ot.topics.status_changed.get_topic_name()
REROUTED = ot.topics.status_rerouted.get_topic_name()
TICKS = ot.topics.ticks.get_topic_name()
INSIGHT_TICKS = ot.topics.insight_ticks.get_topic_name()
CLASSIFIED = ot.topics.classified.get_topic_name()

INGEST = ot.app.agents["ingest-created"]
CUSTOMER_HISTORY = ot.app.agents["customer-history"]
ORDER_BOOK = ot.app.agents["order-book"]
INSIGHT = ot.app.agents["insight"]
INSIGHT_CUSTOMERS = ot.app.agents["insight-customers"]


def source(order_id: str, *, offset: int = 7, timestamp: float | None = None) -> Source:
    """Coordinates of an ``orders.created`` record, as ingest puts them in the header."""
    return Source(
        topic=CREATED,
        partition=0,
        offset=offset,
        timestamp=time.time() if timestamp is None else timestamp,
        key=order_id,
    )


def source_header(src: Source) -> list[tuple[str, bytes]]:
    return [(SOURCE_HEADER, src.model_dump_json().encode())]


def enriched(
    order_id: str,
    amount: str = "100.00",
    *,
    customer_id: str = "C-1",
    timestamp: float | None = None,
) -> EnrichedOrder:
    """What customer_history sends for a first order of ``customer_id``."""
    event = OrderCreated.model_validate_json(dumps(created(order_id, customer_id, amount)))
    _, snapshot = apply_order(None, event.order)
    return EnrichedOrder(
        event=event, customer=snapshot, source=source(order_id, timestamp=timestamp)
    )


def wire(value: EnrichedOrder | Tick, codec: str) -> bytes:
    """Bytes as the topic's own value serializer writes them."""
    return codecs.dumps(codec, value)


def tick(now: float) -> bytes:
    return wire(Tick(now=now), "tick")


def parked_entries(*changes: dict, partition: int = 0) -> ParkedStatuses:
    """Parked status changes as the order agent keeps them (read at offsets 100, 101, ...)."""
    return ParkedStatuses(
        events=[
            ParkedStatus(
                raw=dumps(c).decode(),
                source=Source(topic=STATUS, partition=partition, offset=100 + n, timestamp=1.0),
                parked_at=time.time(),
            )
            for n, c in enumerate(changes)
        ]
    )


def vip_order(order_id: str, amount: str = "25000.00") -> EnrichedOrder:
    """A P1 order (high value, vip customer): the shipped confirm-p1 SLA applies."""
    event = OrderCreated.model_validate_json(dumps(created(order_id, "C-V", amount, vip=True)))
    _, snapshot = apply_order(None, event.order)
    return EnrichedOrder(event=event, customer=snapshot, source=source(order_id))
