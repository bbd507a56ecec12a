"""Classified orders -> the insight tables the HTTP queries read, and the analytics windows.

Reads ``orders.classified``, keyed by order id like the order agent's stream, so the same
worker owns an order's state and its insight, with its own ticks (``<app>-insight-ticks``)
on which it publishes the windows it closed: the windows table is counted and published
here only. Per record: one bucket write (counts), one index write (dedupe, open orders),
one write per window size. A created order's segment is also re-keyed by customer
(``<app>-insight-customers``), so the customer's latest segment sits on the partition of the
customers table and a customer query is answered by one worker; and each created order and
final status goes to customer care (``<app>-customer-care``, ``streams.agents.care``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from faust import StreamT
from faust.types.tuples import Message

from schemas.events import ClassifiedOrder
from streams.agents.care import send as to_care
from streams.app import Worker
from streams.classify import analytics
from streams.classify import insight as state
from streams.classify.care import FINAL, CareFact
from streams.classify.ledger import Seen, by_identity, by_watermark
from streams.records import Tick
from streams.runtime.deadletters import source_of


class Insight:
    def __init__(self, w: Worker) -> None:
        self.w = w
        self.ticks = w.topics.insight_ticks.get_topic_name()

    async def run(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            async with self.w.deadletters.guard(message):
                if message.topic == self.ticks:
                    tick = Tick.model_validate_json(message.value)
                    await self.close_windows(message.partition, tick.now)
                    continue
                record = self.apply(message)
                if record is not None and record.cause == "order-created":
                    seen = state.CustomerSeen(
                        segment=record.customer_segment.value,
                        order_id=record.order_id,
                        occurred_at=record.occurred_at,
                    )
                    await self.w.topics.insight_customers.send(
                        key=record.customer_id.encode(), value=seen
                    )
                if record is not None and (fact := care_fact(record)) is not None:
                    await to_care(self.w, fact, source_of(message))

    async def run_customers(self, stream: StreamT[bytes]) -> None:
        table = self.w.tables.insight_customers
        async for event in stream.events():
            async with self.w.deadletters.guard(event.message):
                seen = state.CustomerSeen.model_validate_json(event.message.value)
                customer_id = event.message.key.decode()
                if seen.newer_than(table.get(customer_id)):  # replays: no-op
                    table[customer_id] = seen

    def apply(self, message: Message) -> ClassifiedOrder | None:
        """Count one classified record; the record, or None if it is a re-sent copy.

        Exact after a crash: the index remembers which offset counted each event, and every
        bucket and window remembers the highest offset it counted, so a replayed record is
        counted wherever its first pass did not reach (each write is a separate changelog
        record, and a crash can keep any of them).
        """
        orders = self.w.tables.insight_orders
        record = ClassifiedOrder.model_validate_json(message.value)  # our own output
        partition, offset = message.partition, message.offset
        before = orders.get(record.order_id)
        counted_at = before.seen.get(record.event_id) if before is not None else None
        seen = by_identity(counted_at, offset)
        if seen is Seen.DUPLICATE:  # a copy the order agent re-sent: counted from the first
            self.w.metrics.replayed_events.labels(topic=message.topic).inc()
            return None
        if record.cause != "reclassified":  # a rule switch is no event: counts keep values
            self.count(record, partition, offset)
        if record.cause in ("order-created", "status-changed"):  # corrections: accuracy only
            self.count_in_windows(record, partition, offset, message.timestamp)
        if seen is Seen.FIRST:
            orders[record.order_id] = state.index(before, record, partition, offset)
        return record

    def count_in_windows(
        self, record: ClassifiedOrder, partition: int, offset: int, timestamp: float
    ) -> None:
        """The analytics windows, by the input's timestamp.

        The order agent gives each classified record the Kafka timestamp of the input record
        that caused it, so a replay lands in the window the first pass counted it in.
        """
        settings, windows = self.w.settings, self.w.tables.windows
        for size in settings.analytics_windows:
            start = analytics.window_start(timestamp, size)
            if analytics.is_expired_start(
                start, size, time.time(), settings.analytics_retention_seconds
            ):
                self.w.metrics.analytics_late_events.inc()
                continue
            key = analytics.window_key(size, start, partition)
            window = windows.get(key) or analytics.WindowState(
                window_seconds=size, start=start, partition=partition
            )
            if (
                by_watermark(window.last_offset, offset) is Seen.FIRST
            ):  # else counted before a crash
                windows[key] = analytics.add(window, record, offset)

    async def close_windows(self, partition: int, now: float) -> None:
        """Publish the closed windows of ``partition``; drop those past retention.

        Keys first: with RocksDB, decoding every partition's windows on every tick was wasted.
        """
        settings, windows = self.w.settings, self.w.tables.windows
        published_at = datetime.fromtimestamp(now, UTC)
        # A comprehension, not list(): list() asks len() first, which RocksDB counts by a scan.
        for key in [k for k in windows if analytics.window_partition(k) == partition]:
            window = windows.get(key)
            if window is None:
                continue
            if analytics.is_due(window, now, settings.analytics_lateness_seconds):
                revision = window.revision
                await self.w.topics.analytics.send(
                    key=key.encode(), value=analytics.to_event(window, published_at)
                )
                self.w.metrics.analytics_windows_published.labels(
                    window_seconds=str(window.window_seconds)
                ).inc()
                # Read again rather than write back the copy read before the send (with
                # RocksDB ``get`` returns a copy): only the revision sent is marked published.
                current = windows.get(key)
                if current is not None and current.published_revision < revision:
                    windows[key] = current.model_copy(update={"published_revision": revision})
            elif analytics.is_expired(window, now, settings.analytics_retention_seconds):
                del windows[key]

    def count(self, record: ClassifiedOrder, partition: int, offset: int) -> None:
        buckets = self.w.tables.insight_buckets
        start = state.bucket_start(record.occurred_at)
        if start < time.time() - state.RETENTION_SECONDS:
            return  # older than any window a query asks for
        key = state.bucket_key(start, partition)
        bucket = buckets.get(key)
        if bucket is None:
            self.drop_expired(partition, start)
            bucket = state.Bucket(start=start, partition=partition)
        if (
            by_watermark(bucket.last_offset, offset) is Seen.FIRST
        ):  # else our replay: counted already
            buckets[key] = state.count(bucket, record, offset)

    def drop_expired(self, partition: int, newest: int) -> None:
        """Delete the partition's buckets past retention (runs when a bucket is started).

        Reads the keys only: with RocksDB, decoding every bucket of the table at each new
        bucket was ~6% of a backlog's CPU.
        """
        buckets = self.w.tables.insight_buckets
        oldest = newest - state.RETENTION_SECONDS
        expired = []
        for key in buckets:  # not list(): it asks len() first, a scan with RocksDB
            start, owner = state.parse_bucket_key(key)
            if owner == partition and start < oldest:
                expired.append(key)
        for key in expired:
            del buckets[key]


def care_fact(record: ClassifiedOrder) -> CareFact | None:
    """What customer care learns from a classified record: a created order, or a final
    status (delivered, completed, cancelled, returned); re-keyed by customer id."""
    kind = "order" if record.cause == "order-created" else None
    if record.cause == "status-changed" and record.status.value in FINAL:
        kind = "status"
    if kind is None:
        return None
    return CareFact(
        kind="order" if kind == "order" else "status",
        customer_id=record.customer_id,
        occurred_at=record.occurred_at,
        order_id=record.order_id,
        amount=record.total_amount,
        currency=record.currency,
        status=record.status.value,
    )


def register(w: Worker) -> Insight:
    insight = Insight(w)

    async def insight_agent(stream: StreamT[bytes]) -> None:
        await insight.run(stream)

    async def insight_customers(stream: StreamT[bytes]) -> None:
        await insight.run_customers(stream)

    w.app.agent(w.topics.insight_stream, name="insight")(insight_agent)
    w.app.agent(w.topics.insight_customers, name="insight-customers")(insight_customers)
    return insight
