"""Broker helpers of the benchmark: topics, paced producing, reading outputs, counting records."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.kafka import clients
from streams.kafka.io import admin_and_consumer, group_lag

Record = ConsumerRecord[bytes, bytes]

#: Outputs are stamped by the broker when appended: end-to-end latency is then the input's
#: create time (our producer) to the output's append time, on the same machine's clock.
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


async def create_topics(
    bootstrap: str, names: Iterable[str], partitions: int, config: dict[str, str] | None = None
) -> None:
    admin = clients.admin(bootstrap)
    await admin.start()
    try:
        new = [NewTopic(n, partitions, 1, topic_configs=config or {}) for n in names]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new)
    finally:
        await admin.close()


async def delete_topics_with(bootstrap: str, token: str) -> int:
    """Delete every topic whose name holds ``token`` (one run's inputs, outputs, changelogs and
    internal topics); how many. A broker that keeps every run's topics makes each later client
    decode a larger cluster's metadata, so runs would not be measured alike."""
    admin = clients.admin(bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if token in t]
        if names:
            await admin.delete_topics(names)
        return len(names)
    finally:
        await admin.close()


async def produce_timed(
    bootstrap: str, records: list[tuple[str, bytes, bytes]], rate: float
) -> list[int]:
    """Produce ``records`` at ``rate`` per second; returns each record's create time (ms)."""
    producer = clients.producer(bootstrap, acks="all", linger_ms=1)
    await producer.start()
    stamps: list[int] = []
    started = time.monotonic()
    try:
        pending = []
        for i, (topic, key, value) in enumerate(records):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now_ms = int(time.time() * 1000)
            stamps.append(now_ms)
            pending.append(await producer.send(topic, value=value, key=key, timestamp_ms=now_ms))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return stamps


def _from_start(bootstrap: str, topics: list[str], fetch_max_wait_ms: int) -> AIOKafkaConsumer:
    """A group-less reader of ``topics`` from their first record."""
    return clients.consumer(
        bootstrap,
        *topics,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=1000,
        fetch_max_wait_ms=fetch_max_wait_ms,
    )


async def wait_for_key(bootstrap: str, topic: str, key: bytes, limit_s: float) -> bool:
    """Whether a record with ``key`` appears on ``topic`` (read from the start) in time."""
    consumer = _from_start(bootstrap, [topic], fetch_max_wait_ms=50)
    await consumer.start()
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            if any(r.key == key for records in batch.values() for r in records):
                return True
        return False
    finally:
        await consumer.stop()


async def read_until(
    bootstrap: str, topics: list[str], expected: int, limit_s: float, idle: float = 60.0
) -> list[Record]:
    """Every record of ``topics`` from the beginning, until ``expected`` or idle/timeout."""
    consumer = _from_start(bootstrap, topics, fetch_max_wait_ms=100)
    await consumer.start()
    found: list[Record] = []
    deadline = time.monotonic() + limit_s
    last = time.monotonic()
    try:
        while len(found) < expected:
            now = time.monotonic()
            if now > deadline or now - last > idle:
                break
            batch = await consumer.getmany(timeout_ms=250, max_records=5000)
            for records in batch.values():
                found.extend(records)
            if batch:
                last = time.monotonic()
        return found
    finally:
        await consumer.stop()


async def records_written(bootstrap: str, token: str, exclude: set[str]) -> dict[str, int]:
    """Records in every topic whose name holds ``token`` (a run's own topics), but ``exclude``."""
    async with admin_and_consumer(bootstrap) as (admin, consumer):
        names = [t for t in await admin.list_topics() if token in t and t not in exclude]
        tps = [
            TopicPartition(d["topic"], p["partition"])
            for d in await admin.describe_topics(names)
            for p in d["partitions"]
        ]
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        counts: dict[str, int] = {}
        for tp in tps:
            counts[tp.topic] = counts.get(tp.topic, 0) + end[tp] - begin[tp]
        return counts


async def drained_at(bootstrap: str, group: str, inputs: list[str], limit_s: float) -> float:
    """When ``group`` had committed the end of every topic it reads (wall clock): its inputs,
    and every other topic it has committed offsets in (internal hops), clock topics aside.

    A commit is the only sign that a stage is done with a record, so this is late by up to
    one commit interval (2.8 s for the worker and, set to match, the peer; the ceiling
    commits each batch).
    """
    deadline = time.monotonic() + limit_s
    while True:
        async with admin_and_consumer(bootstrap) as (admin, _):
            committed = await admin.list_consumer_group_offsets(group)
        read = {tp.topic for tp in committed} | set(inputs)
        topics = sorted(t for t in read if not t.endswith("ticks"))
        if not any((await group_lag(bootstrap, group, topics)).values()):
            return time.time()
        if time.monotonic() > deadline:
            raise TimeoutError(f"group {group} not drained within {limit_s:g}s")
        await asyncio.sleep(0.25)  # polling the broker: the commit is the event, and it is remote
