"""Read the classified-order records a report needs from Kafka (plain aiokafka, no group)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from aiokafka import TopicPartition
from pydantic import BaseModel

from schemas.events import ClassifiedOrder
from streams.kafka import clients

M = TypeVar("M", bound=BaseModel)

#: Records are read from this long before the period starts: a record is written when it is
#: classified, after its ``occurred_at``, unless the producer's clock runs ahead of ours.
CLOCK_SLACK = timedelta(hours=1)


async def read_classified(bootstrap: str, topic: str, since: datetime) -> list[ClassifiedOrder]:
    """Every record of ``topic`` written from ``since`` (less the slack) up to now."""
    return await read_records(bootstrap, topic, since, ClassifiedOrder)


async def read_records(bootstrap: str, topic: str, since: datetime, model: type[M]) -> list[M]:
    """Every ``model`` record of ``topic`` written from ``since`` (less the slack) up to now."""
    tps = await _partitions(bootstrap, topic)
    if not tps:
        return []
    consumer = clients.consumer(bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        since_ms = int((since - CLOCK_SLACK).timestamp() * 1000)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        for tp in tps:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        out: list[M] = []
        pending = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(
                    model.model_validate_json(r.value)
                    for r in records
                    if r.offset < ends[tp] and r.value is not None
                )
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return out
    finally:
        await consumer.stop()


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = clients.admin(bootstrap)
    await admin.start()
    try:
        # Listed first: describing a missing topic would auto-create it on most brokers.
        if topic not in await admin.list_topics():
            return []
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])
