"""The local three-node cluster of ``KAFKA_BROKERS=3 deploy/kafka/kafka.sh``, from Python.

For fault scenarios on a replicated cluster (a node killed -9 and restarted, a rolling restart,
the leader of the busiest input partition killed) and for ``test_cluster_launcher.py``. Every
wait is on a condition with a deadline.

    cluster = LocalCluster(port=9300)
    cluster.start()                          # start + wait-ready
    victim = cluster.leader("orders.created", await cluster.busiest_partition("orders.created"))
    cluster.kill_node(victim)
    await cluster.wait_leaders_off(victim, ["orders.created"])
    cluster.start_node(victim)               # start-node + wait-ready
    await cluster.wait_in_sync(["orders.created"])
    await cluster.rolling_restart(["orders.created"])
    cluster.stop()
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from streams.kafka import clients

LAUNCHER = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "kafka.sh"
NODES = (1, 2, 3)


class LauncherError(RuntimeError):
    pass


class LocalCluster:
    def __init__(self, port: int = 9092, cache: Path | None = None) -> None:
        self.port = port
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("KAFKA_BOOTSTRAP", "KAFKA_CONTROLLER_PORT")
        }
        self.env |= {"KAFKA_BROKERS": "3", "KAFKA_PORT": str(port)}
        if cache is not None:
            self.env["ORDERTRIAGE_CACHE"] = str(cache)

    # ---- the launcher -------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.client_port(n)}" for n in NODES)

    def client_port(self, node: int) -> int:
        return self.port + 2 * (node - 1)

    @property
    def files(self) -> Path:
        cache = Path(self.env.get("ORDERTRIAGE_CACHE", LAUNCHER.parents[2] / ".cache"))
        return cache / "kafka" / f"cluster-{self.port}"

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(LAUNCHER), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 300) -> str:
        done = self.run(*args, timeout=timeout)
        if done.returncode != 0:
            raise LauncherError(
                f"kafka.sh {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def start(self, ready_s: int = 180) -> float:
        """Start every node and wait until all serve; returns the seconds it took."""
        started = time.monotonic()
        self.ok("start")
        self.ok("wait-ready", str(ready_s), timeout=ready_s + 30)
        return time.monotonic() - started

    def stop(self) -> None:
        self.ok("stop", timeout=120)

    def status(self) -> int:
        """0 all nodes running, 4 some, 3 none."""
        return self.run("status").returncode

    def running(self) -> list[int]:
        out = self.run("status").stdout
        return [n for n in NODES if f"node={n} running " in out]

    def kill_node(self, node: int) -> None:
        """SIGKILL; returns once its ports are closed."""
        self.ok("kill-node", str(node))

    def stop_node(self, node: int) -> None:
        """SIGTERM: a controlled shutdown (its leaderships move first)."""
        self.ok("stop-node", str(node), timeout=120)

    def start_node(self, node: int, ready_s: int = 180) -> float:
        """Start a node again and wait until the whole cluster serves; returns the seconds."""
        started = time.monotonic()
        self.ok("start-node", str(node))
        self.ok("wait-ready", str(ready_s), timeout=ready_s + 30)
        return time.monotonic() - started

    def leader(self, topic: str, partition: int) -> int:
        """The node id leading ``topic``'s ``partition`` (per the cluster's metadata)."""
        return int(self.ok("leader", topic, str(partition)).strip())

    async def rolling_restart(self, topics: Iterable[str] = (), in_sync_s: float = 180) -> None:
        """Stop and start each node in turn; before the next one, wait until ``topics`` are
        fully in sync again (else the next stop could take a partition below min ISR)."""
        names = list(topics)
        for node in NODES:
            self.stop_node(node)
            self.start_node(node)
            if names:
                await self.wait_in_sync(names, within_s=in_sync_s)

    # ---- metadata -----------------------------------------------------------------------

    async def partitions(self, topic: str, bootstrap: str | None = None) -> list[dict[str, Any]]:
        """Per partition: ``partition``, ``leader`` (-1 if none), ``replicas``, ``isr``."""
        admin = clients.admin(bootstrap or self.bootstrap, request_timeout_ms=5000)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topic])
        finally:
            await admin.close()
        if described["error_code"] != 0:
            raise LauncherError(f"describe {topic}: error {described['error_code']}")
        return sorted(described["partitions"], key=lambda p: p["partition"])

    async def busiest_partition(self, topic: str) -> int:
        """The partition of ``topic`` with the most records (highest end offset)."""
        parts = [p["partition"] for p in await self.partitions(topic)]
        consumer = clients.consumer(self.bootstrap, enable_auto_commit=False, group_id=None)
        await consumer.start()
        try:
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        finally:
            await consumer.stop()
        if not ends:
            raise LauncherError(f"topic {topic} has no partitions")
        return max(ends, key=lambda tp: (ends[tp], -tp.partition)).partition

    async def wait_leaders_off(
        self, node: int, topics: Iterable[str], within_s: float = 90
    ) -> float:
        """Until no partition of ``topics`` is led by ``node`` or has it in its ISR (a killed
        node stays leader in the metadata until the controller fences it, ~9 s)."""
        names = list(topics)

        async def moved() -> bool:
            for topic in names:
                for p in await self.partitions(topic):
                    if p["leader"] in (node, -1) or node in p["isr"]:
                        return False
            return True

        return await until(moved, within_s, f"leaderships and ISRs of {names} off node {node}")

    async def wait_in_sync(self, topics: Iterable[str], within_s: float = 120) -> float:
        """Until every partition of ``topics`` has all its replicas in sync."""
        names = list(topics)

        async def in_sync() -> bool:
            for topic in names:
                for p in await self.partitions(topic):
                    if sorted(p["isr"]) != sorted(p["replicas"]):
                        return False
            return True

        return await until(in_sync, within_s, f"every replica of {names} in sync")


async def until(condition: Callable[[], Awaitable[bool]], within_s: float, what: str) -> float:
    """Poll ``condition`` every 0.5 s; the seconds it took, TimeoutError after ``within_s``.
    Errors while polling (a node down or restarting) count as not yet."""
    started = time.monotonic()
    while True:
        try:
            if await condition():
                return time.monotonic() - started
        except Exception:  # a node that is down or restarting
            pass
        if time.monotonic() - started > within_s:
            raise TimeoutError(f"not within {within_s:g}s: {what}")
        await asyncio.sleep(0.5)
