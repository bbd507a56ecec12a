"""streams.runtime.bulk_restore against a real broker and a real RocksDB store."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import faust
from faust.types import TP

from streams.kafka import clients
from streams.runtime.bulk_restore import restore
from streams.tools.bench import kafka
from tests.integration.harness import bootstrap


async def _send(topic: str, partition: int, records: list[tuple[bytes, bytes | None]]) -> None:
    producer = clients.producer(bootstrap(), acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


def _table(tmp_path: Path, name: str) -> faust.Table:
    app = faust.App(f"ot-restore-{uuid.uuid4().hex[:8]}", broker="kafka://x:9", store="rocksdb://",
                    datadir=str(tmp_path))  # fmt: skip
    return app.Table(name, partitions=2)


async def test_changelogs_are_restored_as_faust_would_apply_them(tmp_path: Path) -> None:
    """Last value per key, tombstones delete, each partition's last offset stored; records past
    the highwater Faust measured are left to Faust's own loop."""
    table = _table(tmp_path, "orders")
    topic = f"ot-restore-{uuid.uuid4().hex[:8]}-changelog"
    await kafka.create_topics(bootstrap(), [topic], 2, {"cleanup.policy": "compact"})
    p0 = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"c", b"4"), (b"c", None), (b"late", b"x")]
    await _send(topic, 0, p0)
    await _send(topic, 1, [(b"d", b"5")])
    tp0, tp1 = TP(topic, 0), TP(topic, 1)
    recovery = SimpleNamespace(
        active_offsets=Counter({tp0: -1, tp1: -1}),
        active_highwaters={tp0: 4, tp1: 0},  # "late" (offset 5) came after Faust measured
        tp_to_table={tp0: table, tp1: table},
        signal_recovery_start=asyncio.Event(),
    )
    applied = await restore(recovery, bootstrap(), {tp0, tp1}, time.monotonic() + 60)  # type: ignore[arg-type]
    store = table.data
    assert applied == 6
    assert dict(store._visible_items(store._db_for_partition(0))) == {b"a": b"3", b"b": b"2"}
    assert dict(store._visible_items(store._db_for_partition(1))) == {b"d": b"5"}
    assert store.persisted_offset(tp0) == 4 and store.persisted_offset(tp1) == 0
    assert recovery.active_offsets == {tp0: 4, tp1: 0}


async def test_past_its_deadline_the_rest_is_left_to_faust(tmp_path: Path) -> None:
    table = _table(tmp_path, "orders")
    topic = f"ot-restore-{uuid.uuid4().hex[:8]}-changelog"
    await kafka.create_topics(bootstrap(), [topic], 1, {"cleanup.policy": "compact"})
    await _send(topic, 0, [(b"a", b"1")])
    tp = TP(topic, 0)
    recovery = SimpleNamespace(
        active_offsets=Counter({tp: -1}),
        active_highwaters={tp: 0},
        tp_to_table={tp: table},
        signal_recovery_start=asyncio.Event(),
    )
    assert await restore(recovery, bootstrap(), {tp}, time.monotonic()) == 0  # type: ignore[arg-type]
    assert recovery.active_offsets == {tp: -1}
    assert table.data.persisted_offset(tp) is None


async def test_a_broker_it_cannot_reach_leaves_the_restore_to_faust(tmp_path: Path) -> None:
    table = _table(tmp_path, "orders")
    tp = TP("ot-restore-unreachable-changelog", 0)
    recovery = SimpleNamespace(
        active_offsets=Counter({tp: -1}),
        active_highwaters={tp: 10},
        tp_to_table={tp: table},
        signal_recovery_start=asyncio.Event(),
    )
    deadline = time.monotonic() + 30
    assert await restore(recovery, "127.0.0.1:9", {tp}, deadline) == 0  # type: ignore[arg-type]
    assert recovery.active_offsets == {tp: -1} and time.monotonic() < deadline
