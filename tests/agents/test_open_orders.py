"""The orders' digests with a RocksDB table: scanned in a task that yields, while the order
agent goes on writing (the memory store's scan is synchronous: tests/agents/test_timers.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.agents import open_orders
from streams.agents.open_orders import OpenOrders
from streams.records import OrderState

STATE = OrderState.model_validate_json(
    (Path(__file__).parents[1] / "unit" / "state_fixtures" / "order_state.v4.json").read_bytes()
)


class DecodingTable:
    """A stand-in for a RocksDB-backed table: ``items`` decodes lazily, one value at a time."""

    def __init__(self, n: int) -> None:
        self.data = object()  # not the memory store
        self.rows = {f"O{i}": STATE.model_copy(update={"partition": i % 2}) for i in range(n)}
        self.read: list[str] = []

    def items(self) -> Iterator[tuple[str, OrderState]]:
        for key in list(self.rows):
            if key in self.rows:
                self.read.append(key)
                yield key, self.rows[key]

    def on_key_set(self, key: str, value: Any) -> None:
        self.rows[key] = value

    def on_key_del(self, key: str) -> None:
        self.rows.pop(key, None)


async def _until_built(orders: OpenOrders) -> dict[str, open_orders.Digest]:
    for _ in range(1000):
        if (digests := orders.ready()) is not None:
            return digests
        await asyncio.sleep(0)
    raise AssertionError("the scan did not finish")


async def test_writes_during_the_scan_win_over_what_it_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(open_orders, "SCAN_BATCH", 1)
    table = DecodingTable(6)
    orders = OpenOrders(table, lambda s: 1.0 if s.partition == 1 else None)  # type: ignore[arg-type]
    assert orders.ready() is None and orders.of_partition(0) is None  # the task started
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    read_first = table.read[0]
    finished = STATE.model_copy(update={"partition": 0, "finished_at": 5.0})
    table.on_key_set(read_first, finished)  # already read: its digest must follow the write
    table.on_key_set("O5", finished)  # not read yet: the scan must not put back the old value
    table.on_key_del("O4")
    table.on_key_set("N1", STATE.model_copy(update={"partition": 1}))  # a new order
    digests = await _until_built(orders)
    assert sorted(digests) == sorted([*(f"O{i}" for i in range(6) if i != 4), "N1"])
    assert not digests[read_first].open and not digests["O5"].open
    assert digests["N1"].wakeup == 1.0 and digests["O3"].wakeup == 1.0
    assert orders.scans == 1
    assert {k for k, _ in orders.of_partition(1) or []} == {"O1", "O3", "N1"} - {read_first}


async def test_a_reset_during_the_scan_discards_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(open_orders, "SCAN_BATCH", 1)
    table = DecodingTable(4)
    orders = OpenOrders(table, lambda s: None)  # type: ignore[arg-type]
    assert orders.ready() is None
    await asyncio.sleep(0)
    orders.reset()  # partitions moved
    table.on_key_del("O0")
    digests = await _until_built(orders)
    assert sorted(digests) == ["O1", "O2", "O3"] and orders.scans == 2
