"""The record cache: one changelog record per changed key per flush, ranks acknowledged in order."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.runtime import write_cache


class FakeTable:
    """What the cache uses of a Faust table: the partition of a key, and the changelog send."""

    def __init__(self, name: str, log: list[tuple[str, Any, Any, Any]]) -> None:
        self.name = name
        self.log = log
        self.futures: list[asyncio.Future[None]] = []
        self.sensed: list[tuple[str, Any]] = []
        self.acknowledge = False  # True: the broker acknowledges each record at once

    def partition_for_key(self, key: Any) -> int:
        return 3

    def send_changelog(
        self, partition: int, key: Any, value: Any, value_serializer: str | None = None
    ) -> asyncio.Future[None]:
        self.log.append((self.name, key, value, value_serializer))
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


async def test_each_changed_key_is_sent_once_with_its_latest_value() -> None:
    app, log = FakeApp(), []
    table = FakeTable("staff", log)
    cache = write_cache.coalesce(app, table, rank=0)  # type: ignore[arg-type]
    for n in range(5):
        table.on_key_set("ann", n)  # type: ignore[attr-defined]
    table.on_key_set("bob", 1)  # type: ignore[attr-defined]
    table.on_key_del("bob")  # type: ignore[attr-defined]
    assert log == []  # nothing leaves before a flush
    assert cache.coalesced == 5
    assert len(table.sensed) == 7  # Faust's sensors still see every operation
    assert await write_cache.flush(app) == 2  # type: ignore[arg-type]
    assert log == [("staff", "ann", 4, None), ("staff", "bob", None, "raw")]
    assert await write_cache.flush(app) == 0  # type: ignore[arg-type]  # nothing new


async def test_a_later_rank_is_sent_only_once_the_earlier_one_is_acknowledged() -> None:
    app, log = FakeApp(), []
    teams, people = FakeTable("teams", log), FakeTable("people", log)
    write_cache.coalesce(app, people, rank=1)  # type: ignore[arg-type]
    write_cache.coalesce(app, teams, rank=0)  # type: ignore[arg-type]
    people.on_key_set("ann", "p")  # type: ignore[attr-defined]
    teams.on_key_set("0/sales", "t")  # type: ignore[attr-defined]
    flushing = asyncio.create_task(write_cache.flush(app))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert [name for name, *_ in log] == ["teams"]  # people wait for the teams' ack
    people.on_key_set("ann", "p2")  # written during the flush: waits for the next one
    teams.futures[0].set_result(None)
    assert await asyncio.wait_for(flushing, 5) == 2
    assert [(name, value) for name, _, value, _ in log] == [("teams", "t"), ("people", "p")]
    assert await write_cache.flush(app) == 1  # type: ignore[arg-type]
    assert log[-1][:3] == ("people", "ann", "p2")


async def test_a_failed_earlier_rank_stops_the_flush() -> None:
    """A refused team record must not leave the people's record alone in the changelog."""
    app, log = FakeApp(), []
    teams, people = FakeTable("teams", log), FakeTable("people", log)
    write_cache.coalesce(app, teams, rank=0)  # type: ignore[arg-type]
    write_cache.coalesce(app, people, rank=1)  # type: ignore[arg-type]
    teams.on_key_set("0/sales", "t")  # type: ignore[attr-defined]
    people.on_key_set("ann", "p")  # type: ignore[attr-defined]
    flushing = asyncio.create_task(write_cache.flush(app))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    teams.futures[0].set_exception(RuntimeError("producer stopped"))
    try:
        await asyncio.wait_for(flushing, 5)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the flush must raise, so the commit does not happen")
    assert [name for name, *_ in log] == ["teams"]
    teams.acknowledge = True
    people.on_key_set("bob", "q")  # type: ignore[attr-defined]
    assert await write_cache.flush(app) == 3  # type: ignore[arg-type]  # what failed, and bob
    assert [(name, key) for name, key, *_ in log[1:]] == [
        ("teams", "0/sales"),
        ("people", "ann"),
        ("people", "bob"),
    ]
