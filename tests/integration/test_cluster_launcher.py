"""The launcher's three-node mode (``KAFKA_BROKERS=3 deploy/kafka/kafka.sh``) on its own ports.

Starts a fresh cluster, creates a topic with replication factor 3 and ``min.insync.replicas=2``,
produces with acks=all, kills the node leading partition 0 with SIGKILL, produces and consumes
again (two in-sync replicas suffice), starts the node again, waits until it is back in every
partition's ISR, and stops the cluster. Run with ``make test-cluster`` (excluded from
``make test``: three JVMs on top of the test broker are too heavy for CI's two cores).

Ports: ``CLUSTER_TEST_PORT`` (default 9340) and the five after it. Timings (start, rejoin) are
printed and recorded as test properties (``pytest -s`` or ``--junitxml`` show them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from streams.kafka import clients

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

ROOT = Path(__file__).parents[2]
LAUNCHER = ROOT / "deploy/kafka/kafka.sh"
BASE_PORT = int(os.environ.get("CLUSTER_TEST_PORT", "9340"))
NODES = (1, 2, 3)
PARTITIONS = 3
BATCH = 300


@dataclass
class Cluster:
    env: dict[str, str]
    bootstrap: str
    started_in_s: float

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LAUNCHER), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 240) -> str:
        done = self.run(*args, timeout=timeout)
        assert done.returncode == 0, (
            f"kafka.sh {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
        return done.stdout


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
def cluster() -> Iterator[Cluster]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP", "KAFKA_CONTROLLER_PORT")
    }
    env |= {"KAFKA_BROKERS": "3", "KAFKA_PORT": str(BASE_PORT)}
    ports = [BASE_PORT + i for i in range(6)]
    busy = [p for p in ports if port_open(p)]
    assert not busy, f"ports {busy} are in use: set CLUSTER_TEST_PORT to a free range of six"
    cache = Path(env.get("ORDERTRIAGE_CACHE", ROOT / ".cache"))
    shutil.rmtree(cache / "kafka" / f"cluster-{BASE_PORT}", ignore_errors=True)  # fresh data
    bootstrap = ",".join(f"127.0.0.1:{BASE_PORT + 2 * (n - 1)}" for n in NODES)
    c = Cluster(env, bootstrap, 0.0)
    try:
        started = time.monotonic()
        c.ok("start")
        c.ok("wait-ready", "180", timeout=200)
        c.started_in_s = time.monotonic() - started
        yield c
    finally:
        stopped = c.run("stop", timeout=120)
        assert stopped.returncode == 0, stopped.stderr
    assert c.run("status").returncode == 3
    assert not [p for p in ports if port_open(p)], "a node still listens after stop"


async def until(
    condition: Callable[[], Awaitable[bool]], within_s: float, what: str, every: float = 0.5
) -> float:
    """Poll ``condition`` until true; returns the seconds it took, fails after ``within_s``."""
    started = time.monotonic()
    while True:
        try:
            if await condition():
                return time.monotonic() - started
        except Exception:  # a node that is down or restarting
            pass
        if time.monotonic() - started > within_s:
            pytest.fail(f"not within {within_s:g}s: {what}")
        await asyncio.sleep(every)


async def partitions(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    admin = clients.admin(bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert described["error_code"] == 0, described
    return sorted(described["partitions"], key=lambda p: p["partition"])


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = clients.producer(
        bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=30000
    )
    await producer.start()
    try:
        sent = [await producer.send(topic, v, key=v) for v in values]
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
    cluster: Cluster, record_property: Callable[[str, object], None]
) -> None:
    record_property("cluster_start_s", round(cluster.started_in_s, 1))
    print(f"\ncluster started and ready in {cluster.started_in_s:.1f}s")
    status = cluster.ok("status")
    assert status.count(" running pid=") == 3, status

    topic = f"cluster-test-{uuid.uuid4().hex[:8]}"
    admin = clients.admin(cluster.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, PARTITIONS, 3, topic_configs={"min.insync.replicas": "2"})]
        )
    finally:
        await admin.close()

    async def described_everywhere() -> bool:
        parts = await partitions(cluster.bootstrap, topic)
        return len(parts) == PARTITIONS and all(len(p["isr"]) == 3 for p in parts)

    await until(described_everywhere, 60, "the new topic has three in-sync replicas everywhere")
    described = cluster.ok(
        "run-class",
        "org.apache.kafka.tools.TopicCommand",
        "--bootstrap-server",
        cluster.bootstrap,
        "--describe",
        "--topic",
        topic,
    )
    assert "ReplicationFactor: 3" in described
    assert "min.insync.replicas=2" in described

    first = [f"before-{i}".encode() for i in range(BATCH)]
    await produce(cluster.bootstrap, topic, first)

    # The launcher's `leader` agrees with the cluster metadata; that node is the one killed.
    victim = int(cluster.ok("leader", topic, "0").strip())
    assert victim == (await partitions(cluster.bootstrap, topic))[0]["leader"]
    assert victim in NODES
    cluster.ok("kill-node", str(victim))
    assert not port_open(BASE_PORT + 2 * (victim - 1))
    assert cluster.run("status").returncode == 4  # two of three running

    async def failed_over() -> bool:
        parts = await partitions(cluster.bootstrap, topic)
        return all(p["leader"] not in (victim, -1) and victim not in p["isr"] for p in parts)

    failover_s = await until(failed_over, 90, f"leadership moved off killed node {victim}")
    record_property("failover_s", round(failover_s, 1))
    print(f"node {victim} killed: leaders moved and ISRs shrank in {failover_s:.1f}s")
    parts = await partitions(cluster.bootstrap, topic)
    assert all(len(p["isr"]) == 2 for p in parts), parts
    assert int(cluster.ok("leader", topic, "0").strip()) != victim

    # acks=all with min ISR 2: two replicas in sync are enough, nothing is refused or lost.
    second = [f"after-{i}".encode() for i in range(BATCH)]
    await produce(cluster.bootstrap, topic, second)
    read = await consume_all(cluster.bootstrap, topic)
    assert sorted(read) == sorted(first + second)

    rejoin_started = time.monotonic()
    cluster.ok("start-node", str(victim))
    cluster.ok("wait-ready", "180", timeout=200)
    serving_s = time.monotonic() - rejoin_started

    async def back_in_sync() -> bool:
        parts = await partitions(cluster.bootstrap, topic)
        return all(len(p["isr"]) == 3 for p in parts)

    await until(back_in_sync, 120, f"node {victim} back in every partition's ISR")
    rejoin_s = time.monotonic() - rejoin_started
    record_property("rejoin_serving_s", round(serving_s, 1))
    record_property("rejoin_in_sync_s", round(rejoin_s, 1))
    print(f"node {victim} restarted: serving in {serving_s:.1f}s, in every ISR in {rejoin_s:.1f}s")
    assert cluster.run("status").returncode == 0
    # In every ISR again = it caught up with what was written while it was down; and the
    # cluster still serves everything, the restarted node's own port as the only bootstrap.
    alone = f"127.0.0.1:{BASE_PORT + 2 * (victim - 1)}"
    assert sorted(await consume_all(alone, topic)) == sorted(first + second)
