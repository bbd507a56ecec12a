"""Coalesce a table's changelog writes per key until the next commit (a record cache).

Faust sends one changelog record for every ``table[key] = value``. A hot aggregate (a staff
member's KPIs, a bucket, a window) is rewritten by every event that touches it, and each
rewrite serialises and ships the whole value again (profiled: a 28 KB staff record per staff
fact, ~19% of the worker's samples in the producer). Kafka Streams' record cache and
quix-streams' checkpoints keep the latest value per key and write it once per commit; this
does the same for the tables ``streams.tables`` marks:

- the store (memory or RocksDB) is still written at once, so every read sees the new value;
  only the changelog record waits;
- the producer's flush, which Faust runs right before every offset commit, on a rebalance
  before partitions are given away, and at shutdown (``faust_tuning._flush_everything``),
  first sends every waiting key, as one record batch per changelog partition straight into
  the Kafka producer (``to_changelog``), and waits for the broker's acknowledgement. Every
  offset committed was therefore processed *and* its state changes are in the changelog, as
  with one record per write;
- a crash loses the writes since the last flush, all of them inputs that are not committed
  and so read again: each coalesced table keeps a ledger per key (a watermark or ids with
  offsets, ``streams.classify.ledger``) that tells a replay apart and repairs what was lost.

Ranks order the flush where one key's ledger vouches for another's write: the staff record
of a person remembers which facts were counted, and a replay repairs the team's count only
while the person still remembers the fact. So the teams (rank 0) are sent and acknowledged
by the broker before the people (rank 1): a person's record in the changelog implies its
team's.

A table may also wait for the outputs (``after_outputs``): the order book writes an order's
state, then sends what the change produced (the classified record, notifications, staff facts).
A replay after a crash re-sends only what the order's *last* change sent, so the state in the
changelog must imply that every earlier change's outputs are in their topics. With one record
per write that held only while one broker took every produce request in order; on a cluster
the partitions have different leaders, and a later change's state could be acknowledged while
an earlier change's classified record, in flight to another broker, died with the worker.
So the flush takes its cut, then waits until everything the app sent before it is acknowledged
(``barrier``), and only then sends such a table's records: one record per changed order per
commit, each implying the outputs of every change it holds except the last, which the replay
re-sends. The parked status changes stay one record per write: a parked change's input is
committed once parked, so its record must be in the changelog by that commit, and its deletion
waits for the commit of the order that applied it (``streams.agents.parking``).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from faust import App
from faust.types import TP, TableT

_DELETED = object()

#: Per app: the coalesced tables and their flush rank.
_caches: weakref.WeakKeyDictionary[App, list[WriteCache]] = weakref.WeakKeyDictionary()


class WriteCache:
    """The waiting changelog writes of one table: (partition, key) -> latest value."""

    def __init__(
        self, table: TableT, rank: int, after_outputs: bool = False, sink: Sink | None = None
    ) -> None:
        self.table = table
        self.sink = sink or to_changelog
        self.rank = rank
        #: Sent only once everything sent before the flush's cut is acknowledged.
        self.after_outputs = after_outputs
        self.pending: dict[tuple[int, Any], Any] = {}
        #: Writes absorbed by a later write of the same key before a flush (metrics, tests).
        self.coalesced = 0

    def set(self, key: Any, value: Any) -> None:
        slot = (self._partition(key), key)
        if slot in self.pending:
            self.coalesced += 1
        self.pending[slot] = value

    def delete(self, key: Any) -> None:
        self.set(key, _DELETED)

    def _partition(self, key: Any) -> int:
        partition = self.table.partition_for_key(key)
        assert partition is not None  # tables here never use the producer's partitioner
        return partition

    def take(self) -> dict[tuple[int, Any], Any]:
        """The waiting writes, leaving none: later writes wait for the next flush."""
        pending, self.pending = self.pending, {}
        return pending

    def restore(self, pending: dict[tuple[int, Any], Any]) -> None:
        """Put back writes a failed flush took; writes made since are newer and stay."""
        self.pending = {**pending, **self.pending}

    async def send(self, pending: dict[tuple[int, Any], Any]) -> list[asyncio.Future[Any]]:
        """Hand ``pending`` (from ``take``) to the producer; the delivery futures (none, and no
        producer asked for, when nothing of this table waits)."""
        if not pending:
            return []
        by_partition: dict[int, list[tuple[Any, Any]]] = defaultdict(list)
        for (partition, key), value in pending.items():
            by_partition[partition].append((key, None if value is _DELETED else value))
        return await self.sink(self.table, by_partition)


Sink = Callable[[TableT, dict[int, list[tuple[Any, Any]]]], Awaitable[list[asyncio.Future[Any]]]]


async def to_changelog(
    table: TableT, by_partition: dict[int, list[tuple[Any, Any]]]
) -> list[asyncio.Future[Any]]:
    """Send each partition's records (a value of None: a tombstone) as record batches,
    straight into the Kafka producer; one delivery future per batch.

    Not one ``send_changelog`` per record: those go through Faust's producer buffer one at a
    time, and a flush of ~500 changed orders filled it past its 100 messages, so every agent
    waited in Faust's ``wait_until_ebb`` until the flush had drained (profiled: a latency
    bump once per commit), and each record paid Faust's and aiokafka's per-message path.
    """
    app = table.app
    producer = kafka_producer(app)
    topic = table.changelog_topic.get_topic_name()
    dumps_key, dumps_value = app.serializers.dumps_key, app.serializers.dumps_value
    futures: list[asyncio.Future[Any]] = []
    for partition, records in by_partition.items():
        batch = producer.create_batch()
        for key, value in records:
            k = dumps_key(table.key_type, key, serializer=table.key_serializer)
            v = None
            if value is not None:
                v = dumps_value(table.value_type, value, serializer=table.value_serializer)
            if batch.append(key=k, value=v, timestamp=None) is None:  # full: send it
                futures.append(await _submit(producer, table, topic, partition, batch))
                batch = producer.create_batch()
                if batch.append(key=k, value=v, timestamp=None) is None:
                    raise ValueError(f"a {table.name} record is larger than a producer batch")
        if batch.record_count():
            futures.append(await _submit(producer, table, topic, partition, batch))
    return futures


def kafka_producer(app: App) -> Any:
    """The aiokafka producer under Faust's; a flush without one cannot succeed."""
    producer = app.producer._producer  # type: ignore[attr-defined]
    if producer is None:
        raise RuntimeError("Cannot flush: no Kafka producer")
    return producer


async def _submit(
    producer: Any, table: TableT, topic: str, partition: int, batch: Any
) -> asyncio.Future[Any]:
    count = batch.record_count()
    fut: asyncio.Future[Any] = await producer.send_batch(batch, topic, partition=partition)

    def persisted(done: asyncio.Future[Any]) -> None:
        # What Faust's per-record path did: RocksDB keeps the changelog offset it holds, and
        # the monitor counts the records sent (``faust_topic_messages_sent``).
        if not done.cancelled() and done.exception() is None:
            table.data.set_persisted_offset(TP(topic, partition), done.result().offset + count - 1)
            monitor = getattr(table.app, "monitor", None)
            if monitor is not None:
                monitor.messages_sent += count
                monitor.messages_sent_by_topic[topic] += count

    fut.add_done_callback(persisted)
    return fut


def coalesce(
    app: App, table: TableT, rank: int = 0, after_outputs: bool = False, sink: Sink | None = None
) -> WriteCache:
    """Make ``table`` send its changelog records at the next flush instead of per write
    (``sink``: how they are sent, ``to_changelog`` unless a test says otherwise)."""
    cache = WriteCache(table, rank, after_outputs, sink)

    # Faust's table sensors still see every operation.
    def on_key_set(key: Any, value: Any) -> None:
        cache.set(key, value)
        table._sensor_on_set(table, key, value)  # type: ignore[attr-defined]

    def on_key_del(key: Any) -> None:
        cache.delete(key)
        table._sensor_on_del(table, key)  # type: ignore[attr-defined]

    table.on_key_set = on_key_set  # type: ignore[method-assign]
    table.on_key_del = on_key_del  # type: ignore[method-assign]
    _caches.setdefault(app, []).append(cache)
    return cache


async def flush(app: App | None, barrier: Callable[[], Awaitable[None]] | None = None) -> int:
    """Send the waiting writes of ``app``'s tables, rank by rank; how many were sent.

    Each rank's records are acknowledged before the next rank's are sent, so that a later
    rank's record in the changelog implies the earlier ranks' of the same flush, and the last
    rank's before the flush returns. ``barrier`` waits until everything sent so far is
    acknowledged; it runs after the cut, before the first rank holding a table that waits for
    the outputs.
    """
    caches = _caches.get(app) if app is not None else None
    if not caches:
        return 0
    # One cut across every table first: an event processed while an earlier rank is being
    # acknowledged writes to the next flush only, in every rank.
    by_rank: dict[int, list[tuple[WriteCache, dict[tuple[int, Any], Any]]]] = defaultdict(list)
    for cache in caches:
        by_rank[cache.rank].append((cache, cache.take()))
    sent = 0
    ranks = sorted(by_rank)
    waited = False
    for i, rank in enumerate(ranks):
        if not waited and any(cache.after_outputs and p for cache, p in by_rank[rank]):
            waited = True
            try:
                if barrier is None:
                    raise RuntimeError("a table waits for the outputs, and no barrier was given")
                await barrier()
            except BaseException:
                _restore(by_rank, ranks[i:])
                raise
        try:
            futures: list[asyncio.Future[Any]] = []
            for cache, pending in by_rank[rank]:
                futures += await cache.send(pending)
            # Acknowledged before the next rank leaves, and (the last rank too) before the
            # commit this flush precedes: a refused batch fails the commit.
            await asyncio.gather(*futures)
        except BaseException:
            # Not acknowledged: this rank and the later ones wait again (a newer write of a
            # key wins), so a later flush, before a later commit, still sends them.
            _restore(by_rank, ranks[i:])
            raise
        sent += sum(len(pending) for _, pending in by_rank[rank])
    return sent


def unflushed(app: App) -> int:
    """How many of ``app``'s coalesced writes have not been sent to their changelogs."""
    return sum(len(cache.pending) for cache in _caches.get(app, []))


def _restore(
    by_rank: dict[int, list[tuple[WriteCache, dict[tuple[int, Any], Any]]]], ranks: list[int]
) -> None:
    for rank in ranks:
        for cache, pending in by_rank[rank]:
            cache.restore(pending)
