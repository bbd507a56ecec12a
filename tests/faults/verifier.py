"""Nothing lost, nothing counted twice: a checker modelled on Kafka Streams' EOS system test.

``Inputs`` produces a seeded stream (``streams.tools.sample``) plus chosen trouble (upstream
duplicates, out-of-order status changes, a zoo of bad records) and records every record the
broker acknowledged, with what must become of it. After the run, with the workers stopped,
``check`` reads every output topic and the tables' changelogs from the beginning and compares
them with those inputs, computing the expected customer totals on its own. Unacknowledged sends
are not expected (the producer is idempotent, so a retried send is never written twice).
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson
from aiokafka.admin import NewTopic

from streams.kafka import clients
from streams.tools.sample import SampleStream
from streams.topics import CREATED, STATUS_CHANGED
from tests.integration.harness import bootstrap

H = "ordertriage.dlq."
VALID = "valid"  # must be classified, never dead-lettered
#: A status change sent out of order: applied, or dead-lettered as not fitting the status.
OOO = "valid|status_mismatch|invalid_transition|out_of_order"
MAX_INPUT_BYTES = 16 * 1024 * 1024  # the created topic accepts the zoo's 10 MB record


@dataclass(frozen=True)
class Planned:
    topic: str  # CREATED or STATUS_CHANGED (without the run's prefix)
    key: bytes | None
    value: bytes | None
    expect: str  # VALID or a dead-letter reason code; alternatives joined with "|"
    counts: bool = False  # counts into its customer's history (valid creations, poison)


@dataclass(frozen=True)
class Sent:
    plan: Planned
    partition: int
    offset: int

    @property
    def position(self) -> tuple[str, int, int]:
        return self.plan.topic, self.partition, self.offset

    def event(self) -> dict:
        return orjson.loads(self.plan.value or b"{}")


def plan(
    orders: int,
    seed: int,
    *,
    duplicate_share: float = 0.0,
    out_of_order_share: float = 0.0,
    zoo: bool = False,
    poison: int = 0,
    order_prefix: str = "SO",
) -> list[Planned]:
    """The inputs of one run: a valid sample stream plus the requested trouble, labelled."""
    rng = random.Random(seed)
    raw = list(SampleStream(orders, seed=seed, bad_share=0.0, order_prefix=order_prefix))
    planned = [Planned(t, k, v, VALID, counts=t == CREATED) for t, k, v in raw if v is not None]
    # Out of order: swap the first two status changes of some orders; every later change of
    # those orders may then mismatch too, so all of them are labelled.
    if out_of_order_share:
        by_order: dict[bytes | None, list[int]] = defaultdict(list)
        for i, p in enumerate(planned):
            if p.topic == STATUS_CHANGED:
                by_order[p.key].append(i)
        for indexes in by_order.values():
            if len(indexes) >= 2 and rng.random() < out_of_order_share:
                a, b = indexes[0], indexes[1]
                planned[a], planned[b] = planned[b], planned[a]
                for i in indexes:
                    planned[i] = Planned(planned[i].topic, planned[i].key, planned[i].value, OOO)
    out: list[Planned] = []
    later: list[tuple[int, Planned]] = []
    for i, p in enumerate(planned):
        out.append(p)
        if duplicate_share and p.expect == VALID and rng.random() < duplicate_share:
            later.append(
                (i + rng.randint(1, 20), Planned(p.topic, p.key, p.value, "duplicate_event"))
            )
        while later and later[0][0] <= i:
            out.append(later.pop(0)[1])
            later.sort(key=lambda x: x[0])
    out.extend(p for _, p in later)
    if zoo:
        out.extend(zoo_records(rng, planned))
    for n in range(poison):
        out.extend(poison_order(raw, n))
    return out


def zoo_records(rng: random.Random, planned: list[Planned]) -> Iterator[Planned]:
    """Every kind of bad input, each with the dead-letter reason it must get."""
    created = [p for p in planned if p.topic == CREATED]
    base = orjson.loads(rng.choice(created).value or b"{}")

    def variant(change: dict, order_id: str) -> dict:
        event = orjson.loads(orjson.dumps(base))
        event["event_id"] = f"zoo-{order_id}"
        event["order"]["order_id"] = order_id
        for path, value in change.items():
            *parents, leaf = path.split(".")
            target = event
            for part in parents:
                target = target[part]
            if value is None:
                del target[leaf]
            else:
                target[leaf] = value
        return event

    def bad(value: bytes | None, code: str, key: bytes | None = b"ZOO") -> Planned:
        return Planned(CREATED, key, value, code)

    yield bad(b'{"event_id": "broken", "order": {', "invalid_json")
    yield bad(b'{"event_id": "\xff\xfe"}', "not_utf8")
    yield bad(None, "empty_value")
    yield bad(orjson.dumps(variant({"order": None}, "ZOO-1")), "schema_violation")
    yield bad(orjson.dumps(variant({"order.total_amount": "lots"}, "ZOO-2")), "schema_violation")
    yield bad(
        orjson.dumps(variant({"order.customer.type": "martian"}, "ZOO-3")), "schema_violation"
    )
    yield bad(b'{"event_id": "d", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid_json")
    yield bad(b"x" * 1_000_000, "invalid_json")  # 1 MB: over the dead-letter limit, truncated
    yield bad(b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}', "too_large")  # 10 MB: truncated
    # A valid order with a null key: accepted (the order id is in the value).
    yield Planned(CREATED, None, orjson.dumps(variant({}, "ZOO-NULLKEY")), VALID, counts=True)
    # An order created again by another event (same key and partition, so after the first).
    again = base | {"event_id": "zoo-again"}
    order_key = base["order"]["order_id"].encode()
    yield Planned(CREATED, order_key, orjson.dumps(again), "duplicate_order")
    ghost = {
        "event_id": "zoo-ghost",
        "schema_version": 1,
        "occurred_at": base["occurred_at"],
        "order_id": "ZOO-GHOST",
        "from_status": "new",
        "to_status": "confirmed",
    }
    yield Planned(STATUS_CHANGED, b"ZOO-GHOST", orjson.dumps(ghost), "unknown_order")
    jump = ghost | {"event_id": "zoo-jump", "order_id": base["order"]["order_id"]}
    jump |= {"from_status": "new", "to_status": "delivered"}
    # Sent after the order's whole walk, so "new" is no longer its status either way.
    yield Planned(
        STATUS_CHANGED,
        order_key,
        orjson.dumps(jump),
        "invalid_transition|status_mismatch|out_of_order",
    )


def poison_order(raw: list[tuple[str, bytes | None, bytes]], n: int) -> list[Planned]:
    """A valid order that the faulty worker's classification raises on (``POISON-`` ids)."""
    event = orjson.loads(next(v for t, _, v in raw if t == CREATED))
    order_id = f"POISON-{n}"
    event["event_id"] = f"poison-{n}"
    event["order"]["order_id"] = order_id
    return [Planned(CREATED, order_id.encode(), orjson.dumps(event), "processing_error", True)]


class Inputs:
    """Produces planned records to one run's topics, keeping what the broker acknowledged."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.sent: list[Sent] = []
        self.lock = threading.Lock()

    async def create_topics(self, partitions: int = 4) -> None:
        admin = clients.admin(bootstrap())
        await admin.start()
        try:
            big = {"max.message.bytes": str(MAX_INPUT_BYTES + 1024)}
            replicas = 1
            if os.environ.get("KAFKA_BROKERS") == "3":  # the local cluster: replicated inputs
                replicas, big = 3, {**big, "min.insync.replicas": "2"}
            await admin.create_topics(
                [
                    NewTopic(self.prefix + t, partitions, replicas, topic_configs=big)
                    for t in (CREATED, STATUS_CHANGED)
                ]
            )
        finally:
            await admin.close()

    async def produce(
        self, planned: Iterable[Planned], rate: float = 0.0, client: str = "aiokafka"
    ) -> None:
        """Send in order (paced to ``rate`` per second when > 0); record every acknowledgement.

        ``client="librdkafka"`` produces with confluent-kafka and its default partitioner
        (``consistent_random``: CRC-32 of the key), as most non-Java producers do.
        """
        if client == "librdkafka":
            await asyncio.to_thread(self._produce_librdkafka, list(planned), rate)
            return
        producer = clients.producer(
            bootstrap(),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=MAX_INPUT_BYTES + 1024,
        )
        await producer.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            pending: list[tuple[Planned, asyncio.Future]] = []
            for n, p in enumerate(planned):
                if rate > 0 and (delay := started + n / rate - loop.time()) > 0:
                    await asyncio.sleep(delay)
                fut = await producer.send(self.prefix + p.topic, value=p.value, key=p.key)
                pending.append((p, fut))
                if len(pending) >= 500:
                    await self._settle(pending)
            await self._settle(pending)
        finally:
            await producer.stop()

    def _produce_librdkafka(self, planned: list[Planned], rate: float) -> None:
        import time

        from confluent_kafka import KafkaError, Message, Producer

        producer = Producer(
            {
                "bootstrap.servers": bootstrap(),
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.max.bytes": MAX_INPUT_BYTES + 1024,
            }
        )

        def delivered(p: Planned) -> object:
            def report(err: KafkaError | None, msg: Message) -> None:
                if err is None:
                    with self.lock:
                        self.sent.append(Sent(p, msg.partition(), msg.offset()))

            return report

        started = time.monotonic()
        for n, p in enumerate(planned):
            if rate > 0 and (delay := started + n / rate - time.monotonic()) > 0:
                time.sleep(delay)  # pacing the producer, not waiting for a condition
            while True:
                try:
                    producer.produce(
                        self.prefix + p.topic, value=p.value, key=p.key, on_delivery=delivered(p)
                    )
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.1)
            producer.poll(0)
        if producer.flush(120) != 0:
            raise TimeoutError("librdkafka producer could not deliver everything in 120 s")

    async def _settle(self, pending: list[tuple[Planned, asyncio.Future]]) -> None:
        for p, fut in pending:
            try:
                meta = await fut
            except Exception:
                continue
            with self.lock:
                self.sent.append(Sent(p, meta.partition, meta.offset))
        pending.clear()


@dataclass
class Report:
    """What one run produced, and every way it fell short."""

    events: int = 0
    lost: int = 0
    duplicated_state: int = 0
    duplicate_outputs: int = 0
    dead_letters: int = 0
    #: Analytics window counts off the applied events (a gap after crashes: docs/guarantees.md).
    windows_off: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        shown = "\n  ".join(self.problems[:25])
        more = f"\n  ... and {len(self.problems) - 25} more" if len(self.problems) > 25 else ""
        return (
            f"{self.events} events, {self.lost} lost, {self.duplicated_state} duplicated in"
            f" state, {self.duplicate_outputs} repeated outputs, {self.dead_letters} dead letters,"
            f" analytics windows off by {self.windows_off}"
            + (f"\n  {shown}{more}" if self.problems else "")
        )
