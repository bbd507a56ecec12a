"""The fault scenarios: each hurts a run while it works; the runner then settles and verifies.

Each scenario gets its own topics and group, produces a seeded stream while it hurts the
workers or the broker, and returns; ``python -m tests.faults`` settles and judges it.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import time
from collections.abc import Callable

import orjson

from tests.faults.checker import group_lag
from tests.faults.run import Run, broker_pid, kafka_sh, restart_broker
from tests.faults.verifier import plan
from tests.integration.cluster import LocalCluster
from tests.integration.harness import wait_for


def a_while(rng: random.Random, low: float, high: float) -> None:
    """The random point of the next fault (a chosen delay, not a wait for a condition)."""
    time.sleep(rng.uniform(low, high))


def kill_9(run: Run, seed: int, orders: int = 2000, kills: int = 5) -> None:
    w = run.workers[0].start()
    producer = run.produce(plan(orders, seed, duplicate_share=0.05), rate=300)
    rng = random.Random(seed)
    for _ in range(kills):
        a_while(rng, 2, 10)
        run.restart(w, signal.SIGKILL)
    producer.join()


def sigterm(run: Run, seed: int, orders: int = 2000, stops: int = 3) -> None:
    w = run.workers[0].start()
    producer = run.produce(plan(orders, seed, duplicate_share=0.05), rate=300)
    rng = random.Random(seed)
    for _ in range(stops):
        a_while(rng, 2, 8)
        run.restart(w, signal.SIGTERM)
    producer.join()


def rebalance(run: Run, seed: int, orders: int = 2000, moves: int = 4) -> None:
    a, b = run.workers[0].start(), run.worker("b")
    producer = run.produce(plan(orders, seed, duplicate_share=0.05), rate=300)
    rng = random.Random(seed)
    for i in range(moves):
        a_while(rng, 3, 8)
        joining, leaving = (b, a) if i % 2 == 0 else (a, b)
        started = time.monotonic()
        joining.start(timeout=180)
        run.recoveries.append(time.monotonic() - started)
        a_while(rng, 3, 8)
        leaving.stop()
    producer.join()


def broker_outage(run: Run, seed: int, sig: int, orders: int = 3000, down: float = 40) -> None:
    """The worker drains a backlog; the broker dies (``sig``) for ``down`` seconds."""
    run.produce(plan(orders, seed), rate=0).join()
    w = run.workers[0].start()
    a_while(random.Random(seed), 3, 6)
    if sig == signal.SIGTERM:
        kafka_sh("stop")
    else:
        os.kill(broker_pid(), signal.SIGKILL)
    time.sleep(down)  # the outage itself
    restart_broker()
    up = time.monotonic()
    app_id = f"ot-{w.run_id}"
    topics = [w.prefix + "orders.created", w.prefix + "orders.status-changed"]
    before = sum(asyncio.run(group_lag(app_id, topics)).values())

    def moving() -> bool:
        run.supervise(w)
        lag = sum(asyncio.run(group_lag(app_id, topics)).values())
        return lag < before or lag == 0

    wait_for(moving, 300, "the worker to commit progress after the broker came back", every=2)
    run.recoveries.append(time.monotonic() - up)
    run.crashed = True  # a broker outage may interrupt a worker between output and commit


def state_deleted(run: Run, seed: int, orders: int = 1500) -> None:
    """Tables rebuilt from changelogs after the local state is wiped equal those before."""
    w = run.workers[0].start()
    planned = plan(orders, seed)
    run.produce(planned).join()
    order_ids = {
        orjson.loads(p.value or b"{}")["order"]["order_id"]
        for p in planned
        if p.topic == "orders.created"
    }
    app_id = f"ot-{w.run_id}"
    # Every stage drained, not only the inputs: else the snapshot below is taken while orders
    # still move through the internal hops, and "after" differs without anything being wrong.
    topics = [w.prefix + "orders.created", w.prefix + "orders.status-changed"]
    topics += [
        f"{app_id}-{t}" for t in ("orders-by-customer", "orders-enriched", "status-rerouted")
    ]
    wait_for(lambda: not any(asyncio.run(group_lag(app_id, topics)).values()), 300, "drained")
    before = {o: w.get(f"/orders/{o}").json() for o in sorted(order_ids)}
    w.stop()
    shutil.rmtree(w.data_dir)
    started = time.monotonic()
    w.start(timeout=180)
    run.recoveries.append(time.monotonic() - started)
    after = {o: w.get(f"/orders/{o}").json() for o in sorted(order_ids)}
    differ = [o for o in order_ids if before[o] != after[o]]
    assert not differ, f"{len(differ)} orders differ after the rebuild, e.g. {differ[:3]}"


def trouble(run: Run, seed: int, orders: int = 1500) -> None:
    """Upstream trouble, no crash: 10% duplicates, out-of-order changes, the bad-record zoo."""
    w = run.workers[0].start()
    planned = plan(orders, seed, duplicate_share=0.1, out_of_order_share=0.1, zoo=True, poison=1)
    run.produce(planned, rate=500).join()
    run.restart(w, signal.SIGTERM)


def backlog(run: Run, seed: int, events: int = 1_000_000) -> None:
    """A backlog of ``events`` at start-up: drained with bounded memory (peak RSS reported)."""
    run.produce(plan(int(events / 4.6), seed), rate=0).join()
    started = time.monotonic()
    run.workers[0].start(timeout=300)
    run.recoveries.append(time.monotonic() - started)


def soak(run: Run, seed: int, minutes: float = 30, rate: float = 100) -> None:
    """``minutes`` of steady load, a kill every few minutes (SIGKILL and SIGTERM in turn)."""
    w = run.workers[0].start()
    producer = run.produce(plan(int(minutes * 60 * rate / 4.6), seed, duplicate_share=0.02), rate)
    rng = random.Random(seed)
    sigs = [signal.SIGKILL, signal.SIGTERM]
    n = 0
    while producer.is_alive():
        a_while(rng, 120, 240)
        if producer.is_alive():
            run.restart(w, sigs[n % 2])
            n += 1
    producer.join()


def any_producer(run: Run, seed: int, orders: int = 3000, workers: int = 2) -> None:
    """Inputs from librdkafka's default partitioner (CRC-32 of the key), ``workers`` workers.

    Most status changes land on another partition than their order's state: each must be
    re-keyed to it, never parked for an order that lives on another worker.
    """
    started = [run.workers[0].start(timeout=180)]
    started += [run.worker(chr(ord("b") + i)).start(timeout=180) for i in range(workers - 1)]
    run.produce(plan(orders, seed, duplicate_share=0.02), rate=300, client="librdkafka").join()


def scale(run: Run, seed: int, orders: int = 4000) -> None:
    """Under load, one worker becomes four (one at a time), one of four is killed -9 and
    restarted, then four become one again."""
    rng = random.Random(seed)
    first = run.workers[0].start(timeout=180)
    others = [run.worker(x) for x in "bcd"]
    producer = run.produce(plan(orders, seed, duplicate_share=0.02), rate=150)
    for w in others:
        a_while(rng, 3, 8)
        began = time.monotonic()
        w.start(timeout=240)
        run.recoveries.append(time.monotonic() - began)
    a_while(rng, 3, 8)
    run.restart(others[1], signal.SIGKILL)
    for w in reversed(others):
        a_while(rng, 3, 8)
        w.stop()
        w.proc = None  # left on purpose: the supervisor must not start it again
    assert first.proc is not None and first.proc.poll() is None
    producer.join()


def _cluster() -> LocalCluster:
    if os.environ.get("KAFKA_BROKERS") != "3":
        raise RuntimeError("cluster scenarios need KAFKA_BROKERS=3 (make faults-cluster)")
    return LocalCluster(port=int(os.environ.get("KAFKA_PORT", "9092")))


def cluster_fault(run: Run, seed: int, fault: str, orders: int = 2500) -> None:
    """A fault of the three-broker cluster under load: ``node`` (one killed -9, restarted),
    ``leader`` (the leader of the busiest input partition killed -9, restarted), or
    ``rolling`` (every node stopped and started in turn). Workers are never touched: they
    must ride it out (a broker failover may repeat outputs, so only state must be exact)."""
    cluster, rng = _cluster(), random.Random(seed)
    w = run.workers[0].start(timeout=240)
    producer = run.produce(plan(orders, seed, duplicate_share=0.02), rate=150)
    a_while(rng, 5, 10)
    created = w.topic("orders.created")
    began = time.monotonic()
    if fault == "rolling":
        asyncio.run(cluster.rolling_restart([created]))
    else:
        if fault == "leader":
            node = cluster.leader(created, asyncio.run(cluster.busiest_partition(created)))
        else:
            node = rng.choice([1, 2, 3])
        cluster.kill_node(node)
        asyncio.run(cluster.wait_leaders_off(node, [created]))
        a_while(rng, 5, 10)
        cluster.start_node(node)
        asyncio.run(cluster.wait_in_sync([created]))
    run.recoveries.append(time.monotonic() - began)
    run.crashed = True
    producer.join()


def cluster_worker_kill_9(run: Run, seed: int, orders: int = 2000, kills: int = 5) -> None:
    """The worker killed -9 while its partitions are led by three brokers: an order's state and
    the outputs it implies go to different brokers, acknowledged in no common order."""
    _cluster()
    kill_9(run, seed, orders, kills)


SCENARIOS: dict[str, tuple[Callable[..., None], dict[str, object]]] = {
    "trouble": (trouble, {}),
    "kill-9x5": (kill_9, {}),
    "sigterm": (sigterm, {}),
    # A clean stop keeps the RocksDB tables: their changelogs must hold every write they kept.
    "sigterm-rocksdb": (sigterm, {"store": "rocksdb://"}),
    "rebalance": (rebalance, {}),
    # Partitions move between two workers' RocksDB stores and their caches of decoded values.
    "rebalance-rocksdb": (rebalance, {"store": "rocksdb://"}),
    "broker-sigterm": (broker_outage, {"sig": signal.SIGTERM}),
    "broker-sigkill": (broker_outage, {"sig": signal.SIGKILL}),
    "state-deleted": (state_deleted, {}),
    "state-deleted-rocksdb": (state_deleted, {"store": "rocksdb://"}),
    "kill-9x5-rocksdb": (kill_9, {"store": "rocksdb://"}),
    "backlog-1m": (backlog, {}),
    "soak": (soak, {}),
    "librdkafka-2-workers": (any_producer, {}),
    "librdkafka-4-workers": (any_producer, {"workers": 4, "partitions": 12}),
    "scale-1-4-1": (scale, {"partitions": 12}),
    "cluster-node-kill-9": (cluster_fault, {"fault": "node"}),
    "cluster-leader-kill-9": (cluster_fault, {"fault": "leader"}),
    "cluster-rolling-restart": (cluster_fault, {"fault": "rolling"}),
    "cluster-worker-kill-9x5": (cluster_worker_kill_9, {}),
}
QUICK = [
    "trouble",
    "kill-9x5",
    "kill-9x5-rocksdb",
    "sigterm",
    "sigterm-rocksdb",
    "rebalance",
    "rebalance-rocksdb",
    "state-deleted",
    "state-deleted-rocksdb",
]
BROKER = ["broker-sigterm", "broker-sigkill"]
#: Many workers and any producer (``make faults-workers``).
WORKERS = ["librdkafka-2-workers", "librdkafka-4-workers", "scale-1-4-1"]
#: On the three-broker cluster (``make faults-cluster``: KAFKA_BROKERS=3).
CLUSTER = [
    "cluster-node-kill-9",
    "cluster-leader-kill-9",
    "cluster-rolling-restart",
    "cluster-worker-kill-9x5",
]
