"""The record cache: one changelog record per changed key per flush, ranks acknowledged in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.runtime import write_cache


class FakeTable:
    """What the cache uses of a Faust table: the partition of a key, and the changelog send."""

    def __init__(self, name: str, log: list[tuple[str, Any, Any]]) -> None:
        self.name = name
        self.log = log
        self.futures: list[asyncio.Future[None]] = []
        self.sensed: list[tuple[str, Any]] = []
        self.acknowledge = False  # True: the broker acknowledges each record at once

    def partition_for_key(self, key: Any) -> int:
        return 3

    def send_changelog(self, partition: int, key: Any, value: Any) -> asyncio.Future[None]:
        self.log.append((self.name, key, value))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.futures.append(fut)
        if self.acknowledge:
            fut.set_result(None)
        return fut

    def _sensor_on_set(self, table: Any, key: Any, value: Any) -> None:
        self.sensed.append(("set", key))

    def _sensor_on_del(self, table: Any, key: Any) -> None:
        self.sensed.append(("del", key))


class FakeApp:
    pass


async def sink(
    table: FakeTable, by_partition: dict[int, list[tuple[Any, Any]]]
) -> list[asyncio.Future[None]]:
    """One future per record (``to_changelog``, tested below, sends batches)."""
    return [
        table.send_changelog(p, k, v) for p, records in by_partition.items() for k, v in records
    ]


async def test_each_changed_key_is_sent_once_with_its_latest_value() -> None:
    app, log = FakeApp(), []
    table = FakeTable("staff", log)
    cache = write_cache.coalesce(app, table, rank=0, sink=sink)  # type: ignore[arg-type]
    table.acknowledge = True
    for n in range(5):
        table.on_key_set("ann", n)  # type: ignore[attr-defined]
    table.on_key_set("bob", 1)  # type: ignore[attr-defined]
    table.on_key_del("bob")  # type: ignore[attr-defined]
    assert log == []  # nothing leaves before a flush
    assert write_cache.unflushed(app) == 2  # type: ignore[arg-type]  # a stop is not clean
    assert cache.coalesced == 5
    assert len(table.sensed) == 7  # Faust's sensors still see every operation
    assert await write_cache.flush(app) == 2  # type: ignore[arg-type]
    assert log == [("staff", "ann", 4), ("staff", "bob", None)]  # None: a tombstone
    assert await write_cache.flush(app) == 0  # type: ignore[arg-type]  # nothing new
    assert write_cache.unflushed(app) == 0  # type: ignore[arg-type]


async def test_a_later_rank_is_sent_only_once_the_earlier_one_is_acknowledged() -> None:
    app, log = FakeApp(), []
    teams, people = FakeTable("teams", log), FakeTable("people", log)
    people.acknowledge = True
    write_cache.coalesce(app, people, rank=1, sink=sink)  # type: ignore[arg-type]
    write_cache.coalesce(app, teams, rank=0, sink=sink)  # type: ignore[arg-type]
    people.on_key_set("ann", "p")  # type: ignore[attr-defined]
    teams.on_key_set("0/sales", "t")  # type: ignore[attr-defined]
    flushing = asyncio.create_task(write_cache.flush(app))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert [name for name, *_ in log] == ["teams"]  # people wait for the teams' ack
    people.on_key_set("ann", "p2")  # written during the flush: waits for the next one
    teams.futures[0].set_result(None)
    assert await asyncio.wait_for(flushing, 5) == 2
    assert [(name, value) for name, _, value in log] == [("teams", "t"), ("people", "p")]
    assert await write_cache.flush(app) == 1  # type: ignore[arg-type]
    assert log[-1][:3] == ("people", "ann", "p2")


async def test_a_failed_earlier_rank_stops_the_flush() -> None:
    """A refused team record must not leave the people's record alone in the changelog."""
    app, log = FakeApp(), []
    teams, people = FakeTable("teams", log), FakeTable("people", log)
    people.acknowledge = True
    write_cache.coalesce(app, teams, rank=0, sink=sink)  # type: ignore[arg-type]
    write_cache.coalesce(app, people, rank=1, sink=sink)  # type: ignore[arg-type]
    teams.on_key_set("0/sales", "t")  # type: ignore[attr-defined]
    people.on_key_set("ann", "p")  # type: ignore[attr-defined]
    flushing = asyncio.create_task(write_cache.flush(app))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    teams.futures[0].set_exception(RuntimeError("producer stopped"))
    with pytest.raises(RuntimeError):  # the flush raises, so the commit does not happen
        await asyncio.wait_for(flushing, 5)
    assert [name for name, *_ in log] == ["teams"]
    teams.acknowledge = True
    people.on_key_set("bob", "q")  # type: ignore[attr-defined]
    assert await write_cache.flush(app) == 3  # type: ignore[arg-type]  # what failed, and bob
    assert [(name, key) for name, key, *_ in log[1:]] == [
        ("teams", "0/sales"),
        ("people", "ann"),
        ("people", "bob"),
    ]


async def test_a_table_after_the_outputs_waits_for_the_barrier() -> None:
    """An order's state leaves only once the outputs sent before the cut are acknowledged."""
    app, log = FakeApp(), []
    orders, teams = FakeTable("orders", log), FakeTable("teams", log)
    orders.acknowledge = teams.acknowledge = True
    write_cache.coalesce(app, orders, rank=0, after_outputs=True, sink=sink)  # type: ignore[arg-type]
    write_cache.coalesce(app, teams, rank=0, sink=sink)  # type: ignore[arg-type]
    orders.on_key_set("o-1", "created")  # type: ignore[attr-defined]
    orders.on_key_set("o-1", "paid")  # type: ignore[attr-defined]
    acknowledged = asyncio.Event()
    waited: list[str] = []

    async def barrier() -> None:
        waited.append("barrier")
        await acknowledged.wait()

    flushing = asyncio.create_task(write_cache.flush(app, barrier))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert waited == ["barrier"] and log == []  # nothing of the rank leaves before the acks
    orders.on_key_set("o-1", "shipped")  # after the cut: its outputs may not be out yet
    acknowledged.set()
    assert await asyncio.wait_for(flushing, 5) == 1
    assert [(name, value) for name, _, value in log] == [("orders", "paid")]
    teams.on_key_set("0/sales", "t")  # type: ignore[attr-defined]
    assert await write_cache.flush(app, barrier) == 2  # type: ignore[arg-type]
    assert waited == ["barrier", "barrier"]
    assert sorted(value for _, _, value in log[1:]) == ["shipped", "t"]


async def test_no_barrier_when_no_table_after_the_outputs_has_writes() -> None:
    app, log = FakeApp(), []
    orders, teams = FakeTable("orders", log), FakeTable("teams", log)
    write_cache.coalesce(app, orders, rank=1, after_outputs=True, sink=sink)  # type: ignore[arg-type]
    write_cache.coalesce(app, teams, rank=0, sink=sink)  # type: ignore[arg-type]
    teams.acknowledge = True
    teams.on_key_set("0/sales", "t")  # type: ignore[attr-defined]

    async def barrier() -> None:
        raise AssertionError("the barrier ran with nothing waiting for it")

    assert await write_cache.flush(app, barrier) == 1  # type: ignore[arg-type]


async def test_a_failed_barrier_keeps_the_writes_for_the_next_flush() -> None:
    app, log = FakeApp(), []
    orders = FakeTable("orders", log)
    orders.acknowledge = True
    write_cache.coalesce(app, orders, rank=0, after_outputs=True, sink=sink)  # type: ignore[arg-type]
    orders.on_key_set("o-1", "created")  # type: ignore[attr-defined]

    async def refused() -> None:
        raise RuntimeError("an output was not acknowledged")

    with pytest.raises(RuntimeError):  # the flush raises, so the commit does not happen
        await write_cache.flush(app, refused)  # type: ignore[arg-type]
    assert log == []

    async def delivered() -> None:
        return None

    assert await write_cache.flush(app, delivered) == 1  # type: ignore[arg-type]
    assert log[0][:3] == ("orders", "o-1", "created")


async def test_a_refused_last_rank_fails_the_flush_and_keeps_its_writes() -> None:
    app, log = FakeApp(), []
    people = FakeTable("people", log)
    write_cache.coalesce(app, people, rank=1, sink=sink)  # type: ignore[arg-type]
    people.on_key_set("ann", "p")  # type: ignore[attr-defined]
    flushing = asyncio.create_task(write_cache.flush(app))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert not flushing.done()  # the commit waits for the last rank's acknowledgement too
    people.futures[0].set_exception(RuntimeError("not enough replicas"))
    with pytest.raises(RuntimeError):  # the flush raises, so the commit does not happen
        await asyncio.wait_for(flushing, 5)
    people.acknowledge = True
    assert await write_cache.flush(app) == 1  # type: ignore[arg-type]
    assert log[-1] == ("people", "ann", "p")


class FakeBatch:
    """aiokafka's ``BatchBuilder``: ``append`` returns None once the batch is full."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[Any, Any]] = []

    def append(self, *, key: Any, value: Any, timestamp: float | None) -> object | None:
        if len(self.records) == self.capacity:
            return None
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int, list[tuple[Any, Any]]]] = []
        self.futures: list[asyncio.Future[Any]] = []

    def create_batch(self) -> FakeBatch:
        return FakeBatch(capacity=2)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        self.sent.append((topic, partition, batch.records))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(fut)
        return fut


class Serializers:
    def dumps_key(self, typ: Any, key: str, serializer: str) -> bytes:
        return f"{serializer}:{key}".encode()

    def dumps_value(self, typ: Any, value: str, serializer: str) -> bytes:
        return f"{serializer}:{value}".encode()


async def test_the_changelog_gets_one_batch_per_partition_and_its_offsets_recorded() -> None:
    producer, persisted = FakeProducer(), []
    table: Any = FakeTable("orders", [])
    table.app = FakeApp()
    table.app.producer = type("P", (), {"_producer": producer})()
    table.app.serializers = Serializers()
    table.key_type = table.value_type = None
    table.key_serializer, table.value_serializer = "raw", "order_state"
    table.changelog_topic = type("T", (), {"get_topic_name": lambda self: "app-orders-changelog"})()
    table.data = type(
        "S", (), {"set_persisted_offset": lambda self, tp, o: persisted.append((tp, o))}
    )()

    futures = await write_cache.to_changelog(
        table, {0: [("o-1", "a"), ("o-2", "b"), ("o-3", None)], 1: [("o-4", "c")]}
    )
    assert [(p, records) for _, p, records in producer.sent] == [
        (0, [(b"raw:o-1", b"order_state:a"), (b"raw:o-2", b"order_state:b")]),
        (0, [(b"raw:o-3", None)]),  # the full batch left; None: a tombstone
        (1, [(b"raw:o-4", b"order_state:c")]),
    ]
    assert futures == producer.futures
    producer.futures[0].set_result(type("M", (), {"offset": 40})())
    producer.futures[1].set_exception(RuntimeError("refused"))
    producer.futures[2].set_result(type("M", (), {"offset": 7})())
    await asyncio.gather(*futures, return_exceptions=True)
    # The last offset of each acknowledged batch; nothing for the refused one.
    assert [(tp.partition, offset) for tp, offset in persisted] == [(0, 41), (1, 7)]


async def test_a_flush_with_nothing_waiting_needs_no_producer() -> None:
    """The producer buffer's own flush at shutdown runs after the Kafka producer has stopped:
    with nothing waiting it must not reach for it (it logged "Cannot flush" at every stop)."""
    app = FakeApp()

    async def no_producer(table: Any, by_partition: Any) -> list[asyncio.Future[None]]:
        raise RuntimeError("Cannot flush: no Kafka producer")

    table = FakeTable("staff", [])
    write_cache.coalesce(app, table, rank=0, sink=no_producer)  # type: ignore[arg-type]
    assert await write_cache.flush(app) == 0  # type: ignore[arg-type]
    table.on_key_set("ann", 1)  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="no Kafka producer"):
        await write_cache.flush(app)  # type: ignore[arg-type]
    assert write_cache.unflushed(app) == 1  # type: ignore[arg-type]  # kept: not a clean stop
