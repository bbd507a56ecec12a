"""Classified orders -> the insight tables the HTTP queries read (``streams.insight``).

Reads ``orders.classified``, which is keyed by order id like the order agent's stream, so
the same worker owns an order's state and its insight. Per record: one bucket write (counts)
and one index write (dedupe, open orders), both small, both on the record's own partition.
A created order's segment is also re-keyed by customer (internal topic
``<app id>-insight-customers``), so the customer's latest segment sits on the partition of
the customers table and a customer query is answered by one worker.
"""

from __future__ import annotations

import time

from faust import StreamT
from faust.types.tuples import Message

from schemas.events import ClassifiedOrder
from streams.app import app, deadletters, metrics, settings, tables
from streams.classify import analytics
from streams.insight import state
from streams.topics import CLASSIFIED

classified = app.topic(
    settings.topic(CLASSIFIED),
    key_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.topic_partitions,
    replicas=settings.topic_replication_factor,
    internal=True,
)


by_customer = app.topic(
    settings.internal_topic("insight-customers"),
    key_type=bytes,
    key_serializer="raw",
    value_serializer="customer_seen",
    partitions=settings.topic_partitions,
    replicas=settings.topic_replication_factor,
    internal=True,
)


@app.agent(classified, name="insight")
async def insight(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        async with deadletters.guard(event.message):
            record = apply(event.message)
            if record is not None and record.cause == "order-created":
                seen = state.CustomerSeen(
                    segment=record.customer_segment.value,
                    order_id=record.order_id,
                    occurred_at=record.occurred_at,
                )
                await by_customer.send(key=record.customer_id.encode(), value=seen)


@app.agent(by_customer, name="insight-customers")
async def insight_customers(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        async with deadletters.guard(event.message):
            seen = state.CustomerSeen.model_validate_json(event.message.value)
            customer_id = event.message.key.decode()
            if seen.newer_than(tables.insight_customers.get(customer_id)):  # replays: no-op
                tables.insight_customers[customer_id] = seen


def apply(message: Message) -> ClassifiedOrder | None:
    """Count one classified record; the record, or None if it is a re-sent copy.

    Exact after a crash: the index remembers which offset counted each event, and every
    bucket and window remembers the highest offset it counted, so a replayed record is
    counted wherever its first pass did not reach (each write is a separate changelog
    record, and a crash can keep any of them).
    """
    record = ClassifiedOrder.model_validate_json(message.value)  # our own output
    partition, offset = message.partition, message.offset
    before = tables.insight_orders.get(record.order_id)
    counted_at = before.seen.get(record.event_id) if before is not None else None
    if counted_at is not None and counted_at != offset:
        metrics.replayed_events.labels(topic=message.topic).inc()  # re-sent by the order agent
        return None
    if record.cause != "reclassified":  # a rule switch is no event: counts keep their values
        count(record, partition, offset)
        count_in_windows(record, partition, offset, message.timestamp)
    if counted_at is None:
        tables.insight_orders[record.order_id] = state.index(before, record, partition, offset)
    return record


def count_in_windows(
    record: ClassifiedOrder, partition: int, offset: int, timestamp: float
) -> None:
    """The analytics windows (published by the order agent's ticks), by the input's timestamp.

    The order agent gives each classified record the Kafka timestamp of the input record
    that caused it, so a replay lands in the window the first pass counted it in.
    """
    for size in settings.analytics_windows:
        start = analytics.window_start(timestamp, size)
        if analytics.is_expired_start(
            start, size, time.time(), settings.analytics_retention_seconds
        ):
            metrics.analytics_late_events.inc()
            continue
        key = analytics.window_key(size, start, partition)
        window = tables.windows.get(key) or analytics.WindowState(
            window_seconds=size, start=start, partition=partition
        )
        if window.last_offset < offset:  # else counted before a crash
            tables.windows[key] = analytics.add(window, record, offset)


def count(record: ClassifiedOrder, partition: int, offset: int) -> None:
    start = state.bucket_start(record.occurred_at)
    if start < time.time() - state.RETENTION_SECONDS:
        return  # older than any window a query asks for
    key = state.bucket_key(start, partition)
    bucket = tables.insight_buckets.get(key)
    if bucket is None:
        drop_expired(partition, start)
        bucket = state.Bucket(start=start, partition=partition)
    if bucket.last_offset < offset:  # else our own replay: this bucket has counted it
        tables.insight_buckets[key] = state.count(bucket, record, offset)


def drop_expired(partition: int, newest: int) -> None:
    """Delete the partition's buckets past retention (runs when a bucket is started)."""
    oldest = newest - state.RETENTION_SECONDS
    for key, bucket in list(tables.insight_buckets.items()):
        if bucket.partition == partition and bucket.start < oldest:
            del tables.insight_buckets[key]
