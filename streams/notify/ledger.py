"""The delivery ledger: a compacted Kafka topic, read back before an input partition is served.

Every delivery (notification x channel x recipient) has one key. Its record goes to the ledger
partition numbered like the input partition the notification came from, so the instance that
is assigned input partition ``p`` reads ledger partition ``p`` to its end and knows everything
done for it, whichever instance did it before a crash or a rebalance. Records: ``intent``
(written and acknowledged by the broker before the channel is called), then one outcome. An
``intent`` without an outcome after a restart is a delivery *in doubt*.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Literal

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from pydantic import BaseModel, ConfigDict

from schemas.events import Notification
from streams.kafka import clients

State = Literal["intent", "sent", "failed", "digested", "in_doubt", "quiet", "used"]
DONE: frozenset[str] = frozenset({"sent", "failed", "digested", "in_doubt", "quiet"})


class Entry(BaseModel):
    """One delivery's latest state (the ledger's value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    state: State
    notification_id: str = ""
    channel: str = ""
    person: str = ""
    to: str = ""
    attempts: int = 0
    detail: str = ""
    digest_id: str | None = None
    at: float = 0.0
    latency_s: float | None = None
    notification: Notification | None = None


class Ledger:
    def __init__(self, bootstrap: str, topic: str, producer: AIOKafkaProducer) -> None:
        self.bootstrap, self.topic, self.producer = bootstrap, topic, producer
        self.entries: dict[str, Entry] = {}
        self.by_notification: dict[str, set[str]] = defaultdict(set)
        self.partitions = 1

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def of(self, notification_id: str) -> list[Entry]:
        return [self.entries[k] for k in sorted(self.by_notification.get(notification_id, ()))]

    def _keep(self, entry: Entry) -> None:
        self.entries[entry.key] = entry
        if entry.notification_id:
            self.by_notification[entry.notification_id].add(entry.key)

    async def write(self, entries: list[tuple[Entry, int]]) -> None:
        """Durable (acks=all) before it returns: callers rely on it before acting.

        Each entry goes to the ledger partition of the input partition given with it.
        """
        await asyncio.gather(*await self.write_soon(entries))

    async def write_soon(self, entries: list[tuple[Entry, int]]) -> list[asyncio.Future[Any]]:
        """Queued to the broker now (no linger); the futures resolve once it is durable."""
        futures = [
            await self.producer.send(
                self.topic,
                key=e.key.encode(),
                value=e.model_dump_json(exclude_none=True).encode(),
                partition=partition % self.partitions,
            )
            for e, partition in entries
        ]
        for e, _ in entries:
            self._keep(e)
        return futures

    def sent_times(self, channel: str, since: float) -> list[float]:
        """When calls went to ``channel`` after ``since``: seeds its rate limiter.

        Every call counts, answered or not (an ``intent`` may have reached the platform
        before a crash): under-counting here is what makes a robot refuse, or mute, a group.
        """
        return sorted(
            e.at
            for e in self.entries.values()
            if e.channel == channel
            and e.at > since
            and e.state in ("sent", "failed", "intent", "in_doubt")
        )

    async def load(self, partitions: set[int] | None = None) -> int:
        """Read ledger partitions (all when None) from the start to their end offsets now."""
        admin = clients.admin(self.bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        found = {p["partition"] for d in described for p in d.get("partitions") or []}
        if not found:
            raise RuntimeError(f"ledger topic {self.topic} has no partitions")
        consumer = clients.consumer(self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            self.partitions = len(found)
            wanted = found if partitions is None else {p % self.partitions for p in partitions}
            tps = [TopicPartition(self.topic, p) for p in sorted(wanted)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
            read = 0
            pending = {tp for tp in tps if ends[tp] > 0}
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        if record.value is not None:
                            self._keep(Entry.model_validate_json(record.value))
                            read += 1
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
            return read
        finally:
            await consumer.stop()


def dump(entry: Entry) -> dict[str, Any]:
    """The public view (GET /notifications/{id}): no addresses, no notification body."""
    out: dict[str, Any] = orjson.loads(entry.model_dump_json(exclude={"notification", "to"}))
    out["personal"] = bool(entry.to)
    return out
