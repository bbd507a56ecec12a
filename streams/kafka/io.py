"""Plain aiokafka clients for the CLI's producer and tail (the worker itself runs on Faust)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka import clients


async def produce(
    bootstrap: str,
    records: Iterable[tuple[str, bytes | None, bytes]],
    *,
    rate: float = 0.0,
) -> int:
    """Produce ``records`` (paced to ``rate`` per second when > 0); returns how many."""
    producer = clients.producer(bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    sent = 0
    started = time.monotonic()
    try:
        pending = []
        for topic, key, value in records:
            if rate > 0:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            pending.append(await producer.send(topic, value=value, key=key))
            sent += 1
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


async def records(
    bootstrap: str,
    topics: list[str],
    *,
    from_beginning: bool = False,
    idle_timeout: float | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` (all partitions, no consumer group); stops after idling."""
    # No consumer group: subscribe() assigns every partition, and metadata refreshes until
    # the topics exist (the worker creates its outputs when it starts).
    consumer = clients.consumer(
        bootstrap,
        *topics,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        metadata_max_age_ms=2000,
    )
    await consumer.start()
    try:
        last = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp_records in batch.values():
                for record in tp_records:
                    yield record
            if batch:
                last = time.monotonic()
            elif idle_timeout is not None and time.monotonic() - last > idle_timeout:
                return
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topics: list[str], wait_s: float = 30) -> list[bytes]:
    """Every value of ``topics`` from the beginning up to their end offsets now.

    Within a partition the order is kept (so each order's events stay in order).
    """
    # No group: subscribing assigns every partition of the topics, from the beginning.
    consumer = clients.consumer(
        bootstrap,
        *topics,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + wait_s
        while {tp.topic for tp in consumer.assignment()} != set(topics):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not found: {set(topics)}")
            await asyncio.sleep(0.1)
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
            for records in batch.values():
                values.extend(r.value for r in records if r.value is not None)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return values


@asynccontextmanager
async def admin_and_consumer(
    bootstrap: str,
) -> AsyncIterator[tuple[AIOKafkaAdminClient, AIOKafkaConsumer]]:
    """An admin client and a group-less consumer (for offsets), both started, both closed."""
    admin = clients.admin(bootstrap)
    consumer = clients.consumer(bootstrap, enable_auto_commit=False)
    await admin.start()
    try:
        await consumer.start()
        try:
            yield admin, consumer
        finally:
            await consumer.stop()
    finally:
        await admin.close()


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> dict[str, int]:
    """Per topic: records after the group's committed offsets (0 everywhere = all processed)."""
    async with admin_and_consumer(bootstrap) as (admin, consumer):
        committed = await admin.list_consumer_group_offsets(group)
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or [])
        ]
        ends = await consumer.end_offsets(tps)
        lag: Counter[str] = Counter()
        for tp, end in ends.items():
            done = committed[tp].offset if tp in committed else 0
            lag[tp.topic] += max(0, end - done)
        return dict(lag)


async def records_to_end(
    bootstrap: str, topics: list[str], wait_s: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topics`` (headers and keys too) up to their end offsets now; one
    consumer, no group."""
    consumer = clients.consumer(
        bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", metadata_max_age_ms=1000
    )
    await consumer.start()
    found: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + wait_s
        while missing := [t for t in topics if not consumer.partitions_for_topic(t)]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not found: {missing}")
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.2)
        partitions = [
            TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
            for tp_records in batch.values():
                found.extend(tp_records)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return found


async def send(
    bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]
) -> int:
    """Produce ``(topic, key, value, headers)`` records, acknowledged by all replicas."""
    producer = clients.producer(bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers)
            for topic, key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(futures)
