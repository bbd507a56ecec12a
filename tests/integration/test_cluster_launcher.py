"""The launcher's three-node mode (``KAFKA_BROKERS=3 deploy/kafka/kafka.sh``) on its own ports.

Starts a fresh cluster, creates a topic with replication factor 3 and ``min.insync.replicas=2``,
produces with acks=all, kills the node leading the busiest partition with SIGKILL, produces and
consumes again (two in-sync replicas suffice), starts the node again, waits until it is back in
every partition's ISR, and stops the cluster. Run with ``make test-cluster`` (excluded from
``make test``: three JVMs on top of the test broker are too heavy for CI's two cores).

Ports: ``CLUSTER_TEST_PORT`` (default 9340) and the five after it. Timings (start, fail-over,
rejoin) are printed and recorded as test properties (``pytest -s`` or ``--junitxml``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from streams.kafka import clients
from tests.integration.cluster import NODES, LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

BASE_PORT = int(os.environ.get("CLUSTER_TEST_PORT", "9340"))
PARTITIONS = 3
BATCH = 300


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def broker() -> str:
    """Overrides the integration suite's check for the single test broker: not needed here."""
    return ""


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[LocalCluster, float]]:
    c = LocalCluster(BASE_PORT)
    ports = [BASE_PORT + i for i in range(6)]
    busy = [p for p in ports if port_open(p)]
    assert not busy, f"ports {busy} are in use: set CLUSTER_TEST_PORT to a free range of six"
    shutil.rmtree(c.files, ignore_errors=True)  # fresh data
    try:
        yield c, c.start()
    finally:
        c.stop()
    assert c.status() == 3
    assert not [p for p in ports if port_open(p)], "a node still listens after stop"
    shutil.rmtree(c.files, ignore_errors=True)


async def produce(
    bootstrap: str, topic: str, values: list[bytes], partition: int | None = None
) -> None:
    producer = clients.producer(
        bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=30000
    )
    await producer.start()
    try:
        sent = [await producer.send(topic, v, key=v, partition=partition) for v in values]
        metas = await asyncio.wait_for(asyncio.gather(*sent), timeout=120)
    finally:
        await producer.stop()
    assert len(metas) == len(values)
    assert all(m.offset >= 0 for m in metas)


async def consume_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = clients.consumer(bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    out: list[bytes] = []
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        deadline = time.monotonic() + 60
        while any([await consumer.position(tp) < end[tp] for tp in tps]):
            assert time.monotonic() < deadline, "could not read the topic back within 60 s"
            batch = await consumer.getmany(*tps, timeout_ms=1000)
            out += [r.value for records in batch.values() for r in records if r.value]
    finally:
        await consumer.stop()
    return out


async def test_cluster_survives_a_killed_leader(
    cluster: tuple[LocalCluster, float], record_property: Callable[[str, object], None]
) -> None:
    c, started_in_s = cluster
    record_property("cluster_start_s", round(started_in_s, 1))
    print(f"\ncluster started and ready in {started_in_s:.1f}s")
    assert c.running() == list(NODES)

    topic = f"cluster-test-{uuid.uuid4().hex[:8]}"
    admin = clients.admin(c.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, PARTITIONS, 3, topic_configs={"min.insync.replicas": "2"})]
        )
    finally:
        await admin.close()
    await c.wait_in_sync([topic], within_s=60)
    parts = await c.partitions(topic)
    assert len(parts) == PARTITIONS
    assert all(sorted(p["isr"]) == sorted(p["replicas"]) == [1, 2, 3] for p in parts), parts
    described = c.ok(
        "run-class",
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        c.bootstrap,
        "--describe",
        "--topic",
        topic,
    )
    assert "ReplicationFactor: 3" in described
    assert "min.insync.replicas=2" in described

    # Keyed records spread over the partitions, then a burst on partition 1: the busiest.
    first = [f"before-{i}".encode() for i in range(BATCH)]
    await produce(c.bootstrap, topic, first[: -BATCH // 2])
    await produce(c.bootstrap, topic, first[-BATCH // 2 :], partition=1)
    busiest = await c.busiest_partition(topic)
    assert busiest == 1

    # The launcher's `leader` agrees with the cluster metadata; that node is the one killed.
    victim = c.leader(topic, busiest)
    assert victim == (await c.partitions(topic))[busiest]["leader"]
    c.kill_node(victim)
    assert not port_open(c.client_port(victim))
    assert c.status() == 4  # two of three running
    assert c.running() == [n for n in NODES if n != victim]

    failover_s = await c.wait_leaders_off(victim, [topic])
    record_property("failover_s", round(failover_s, 1))
    print(f"node {victim} killed: leaders moved and ISRs shrank in {failover_s:.1f}s")
    parts = await c.partitions(topic)
    assert all(len(p["isr"]) == 2 for p in parts), parts
    assert c.leader(topic, busiest) != victim

    # acks=all with min ISR 2: two replicas in sync are enough, nothing is refused or lost.
    second = [f"after-{i}".encode() for i in range(BATCH)]
    await produce(c.bootstrap, topic, second)
    read = await consume_all(c.bootstrap, topic)
    assert sorted(read) == sorted(first + second)

    serving_s = c.start_node(victim)
    in_sync_s = serving_s + await c.wait_in_sync([topic])
    record_property("rejoin_serving_s", round(serving_s, 1))
    record_property("rejoin_in_sync_s", round(in_sync_s, 1))
    print(f"node {victim} restarted: serving in {serving_s:.1f}s, in every ISR in {in_sync_s:.1f}s")
    assert c.status() == 0
    # In every ISR again = it caught up with what was written while it was down; and the
    # cluster still serves everything with the restarted node's port as the only bootstrap.
    alone = f"127.0.0.1:{c.client_port(victim)}"
    assert sorted(await consume_all(alone, topic)) == sorted(first + second)


async def test_rolling_restart_under_writes_loses_nothing(
    cluster: tuple[LocalCluster, float], record_property: Callable[[str, object], None]
) -> None:
    """Each node stopped (SIGTERM) and started in turn while a producer writes with acks=all."""
    c, _ = cluster
    topic = f"cluster-rolling-{uuid.uuid4().hex[:8]}"
    admin = clients.admin(c.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, PARTITIONS, 3, topic_configs={"min.insync.replicas": "2"})]
        )
    finally:
        await admin.close()
    await c.wait_in_sync([topic], within_s=60)

    done = asyncio.Event()
    sent: list[bytes] = []

    async def write() -> None:
        producer = clients.producer(
            c.bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=30000
        )
        await producer.start()
        try:
            while not done.is_set():
                value = f"rolling-{len(sent)}".encode()
                await asyncio.wait_for(producer.send_and_wait(topic, value, key=value), 120)
                sent.append(value)
                await asyncio.sleep(0.02)  # a steady trickle, ~50 records/s at most
        finally:
            await producer.stop()

    writer = asyncio.create_task(write())
    started = time.monotonic()
    # The launcher calls block; run them off the loop so the writer keeps writing.
    await asyncio.to_thread(lambda: asyncio.run(c.rolling_restart([topic])))
    took = time.monotonic() - started
    count_during = len(sent)
    done.set()
    await writer
    record_property("rolling_restart_s", round(took, 1))
    print(f"rolling restart of 3 nodes in {took:.1f}s, {count_during} records written meanwhile")
    assert count_during > 0
    assert c.status() == 0
    parts = await c.partitions(topic)
    assert all(sorted(p["isr"]) == [1, 2, 3] for p in parts), parts
    assert sorted(await consume_all(c.bootstrap, topic)) == sorted(sent)
