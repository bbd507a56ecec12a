"""A rebalance and a batch never overlap: the delivery loop against a scripted consumer.

aiokafka starts fetching a new assignment before it calls ``on_partitions_assigned`` and runs
the listener beside the loop; these tests pin the order the notifier imposes on both.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord

from streams.notify.config import load
from streams.notify.service import Notifier, Reload
from tests.notify.helpers import config_text, environment, until

TOPIC = "orders.notifications"
TP0, TP1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
URLS = {p: f"http://127.0.0.1:1/{p}" for p in ("dingtalk", "feishu", "wecom", "slack", "webhook")}


def record(tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"{}", None, 1, 2, ())


class Consumer:
    """Hands out scripted batches; owns what ``owned`` says; records commits."""

    def __init__(self) -> None:
        self.batches: asyncio.Queue[dict[TopicPartition, list[Any]]] = asyncio.Queue()
        self.owned = {TP0}
        self.commits: list[set[TopicPartition]] = []
        self.refuse_commit = False

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        try:
            return await asyncio.wait_for(self.batches.get(), timeout_ms / 1000)
        except TimeoutError:
            return {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)

    async def commit(self, offsets: dict[TopicPartition, object]) -> None:
        if self.refuse_commit:
            raise CommitFailedError("rebalanced")
        self.commits.append(set(offsets))


class Ledger:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.loaded: list[set[int]] = []
        self.fail: Exception | None = None

    async def load(self, partitions: set[int]) -> int:
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.loaded.append(partitions)
        return 0

    def sent_times(self, channel: str, since: float) -> list[float]:
        return []


@pytest.fixture
def parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Notifier, Ledger, Consumer, list[set[int]], asyncio.Event]:
    for name, value in environment(URLS).items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "notify.yaml"
    path.write_text(config_text(2525, tmp_path / "ca.pem", "https://ack.example.test"))
    config, secrets = load(path)
    ledger = Ledger()
    notifier = Notifier(
        config,
        secrets,
        ledger=ledger,  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        session=None,  # type: ignore[arg-type]
        deadletter_topic="dead",
        attempts=1,
        backoff=0.0,
    )
    handled: list[set[int]] = []
    busy = asyncio.Event()  # cleared: the batch in flight waits

    async def handle(batch: dict[int, list[Any]]) -> None:
        handled.append(set(batch))
        await busy.wait()

    notifier.handle = handle  # type: ignore[method-assign]
    return notifier, ledger, Consumer(), handled, busy


async def stays_pending(task: asyncio.Task[Any], seconds: float = 0.3) -> bool:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return not done


async def test_revocation_waits_for_the_batch_and_the_loop_for_the_ledger(
    parts: tuple[Notifier, Ledger, Consumer, list[set[int]], asyncio.Event],
) -> None:
    notifier, ledger, consumer, handled, busy = parts
    reload = Reload(ledger, notifier)  # type: ignore[arg-type]
    stop = asyncio.Event()
    loop = asyncio.create_task(notifier.run(consumer, stop))  # type: ignore[arg-type]
    await consumer.batches.put({TP0: [record(TP0, 0)]})
    await until(lambda: handled == [{0}], 5, "the first batch in flight")
    revoked = asyncio.create_task(reload.on_partitions_revoked([TP0]))
    assert await stays_pending(revoked)  # the batch in flight is not cut off
    busy.set()
    await asyncio.wait_for(revoked, 5)
    assert consumer.commits == [{TP0}]  # recorded and committed before the group moved on
    # Partition 0 moved away, 1 came: a batch fetched meanwhile holds both.
    consumer.owned = {TP1}
    await consumer.batches.put({TP0: [record(TP0, 1)], TP1: [record(TP1, 0)]})
    assigned = asyncio.create_task(reload.on_partitions_assigned([TP1]))
    assert await stays_pending(assigned)
    assert handled == [{0}]  # nothing is delivered before its ledger partition is read
    ledger.gate.set()
    await asyncio.wait_for(assigned, 5)
    await until(lambda: len(handled) == 2, 5, "the second batch")
    assert handled[1] == {1} and ledger.loaded == [{1}]  # the moved partition is left alone
    await until(lambda: len(consumer.commits) == 2, 5, "its commit")
    assert consumer.commits[1] == {TP1}
    stop.set()
    await asyncio.wait_for(loop, 5)


async def test_a_refused_commit_replays_and_a_failed_ledger_read_stops_the_loop(
    parts: tuple[Notifier, Ledger, Consumer, list[set[int]], asyncio.Event],
) -> None:
    notifier, ledger, consumer, handled, busy = parts
    busy.set()
    reload = Reload(ledger, notifier)  # type: ignore[arg-type]
    loop = asyncio.create_task(notifier.run(consumer, asyncio.Event()))  # type: ignore[arg-type]
    consumer.refuse_commit = True
    await consumer.batches.put({TP0: [record(TP0, 0)]})
    await until(lambda: handled == [{0}], 5, "the batch")
    assert await stays_pending(loop)  # a refused commit is not a crash
    ledger.fail, ledger.gate = RuntimeError("ledger unreadable"), asyncio.Event()
    ledger.gate.set()
    await reload.on_partitions_revoked([TP0])
    await reload.on_partitions_assigned([TP0])
    assert not notifier.turn.locked()
    await consumer.batches.put({TP0: [record(TP0, 1)]})
    with pytest.raises(RuntimeError, match="ledger unreadable"):
        await asyncio.wait_for(loop, 5)
    assert handled == [{0}]  # the batch after the failed read was not delivered
