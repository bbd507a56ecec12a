"""``make bench-scaling``: throughput with 1 and 2 workers; recovery time and memory by state size.

- **Workers**: the same preloaded backlog drained by one worker, then by two of one app id
  (fresh topics and group each time); input events/s over the 10-90% share of the outputs.
- **Recovery**: the orders table's changelog is filled with ``N`` orders (realistic
  ``OrderState`` values written straight to the changelog, which is what a worker would have
  written), then a worker starts on it; we time start -> ``/readyz`` and read its RSS once ready,
  with the memory store and with RocksDB (three starts: a new machine, a clean restart, a
  restart after kill -9). An empty changelog gives the baseline start time; the memory per
  order is the RSS over that baseline's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx
import orjson
from rich.console import Console
from rich.table import Table

from schemas.events import OrderCreated
from streams import apiauth
from streams.classify.customers import apply_order
from streams.classify.engine import classify_created
from streams.classify.facts import OrderFacts
from streams.classify.notify import newly_fired
from streams.classify.rules import RuleSet
from streams.kafka.io import produce
from streams.records import OrderState
from streams.settings import get_settings
from streams.tools.bench import kafka, measure, systems
from streams.tools.bench.workload import Workload
from streams.topics import CREATED

console = Console(soft_wrap=True)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(space: systems.RunSpace, n: int, bootstrap: str, store: str) -> tuple[Any, int]:
    port = _port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": bootstrap,
        "ORDERTRIAGE_TOPIC_PREFIX": space.prefix,
        "ORDERTRIAGE_APP_ID": space.group,
        "ORDERTRIAGE_DATA_DIR": str(space.data / f"worker{n}"),
        "ORDERTRIAGE_WEB_PORT": str(port),
        "ORDERTRIAGE_LOG_LEVEL": "warning",
        "ORDERTRIAGE_STORE": store,
    }
    log = (space.data / f"log{n}").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log, stderr=log
    )
    return proc, port


def workers_run(count: int, records: list[tuple[str, bytes, bytes]], root: Path) -> dict[str, Any]:
    bootstrap = get_settings().bootstrap
    space = systems.RunSpace("ordertriage", root)
    asyncio.run(kafka.create_topics(bootstrap, space.inputs, 4))
    asyncio.run(kafka.create_topics(bootstrap, systems.output_topics(space), 4, kafka.APPEND_TIME))
    asyncio.run(produce(bootstrap, [(space.prefix + t, k, v) for t, k, v in records]))
    procs = [_worker(space, i, bootstrap, "memory://")[0] for i in range(count)]
    samplers = [measure.ProcessSampler(p.pid) for p in procs]
    try:
        outputs = asyncio.run(
            kafka.read_until(bootstrap, [space.classified], len(records), 900, idle=300)
        )
        if len(outputs) < len(records):
            raise SystemExit(f"{count} workers: only {len(outputs)}/{len(records)} outputs")
        drained = asyncio.run(kafka.drained_at(bootstrap, space.group, space.inputs, 900))
        figures = [measure.throughput(outputs, s, drained) for s in samplers]
        rss = [s.peak_rss_mib() for s in samplers]
    finally:
        for s in samplers:
            s.stop()
        for p in procs:
            systems.stop(p)
        # As the bench does: a broker that keeps every run's topics slows the later runs.
        asyncio.run(kafka.delete_topics_with(bootstrap, space.token))
    return {
        "workers": count,
        "events_per_s": round(figures[0].events_per_s, 1),
        "cpu_ms_per_event": round(sum(f.cpu_ms_per_event for f in figures), 3),
        "peak_rss_mib_per_worker": round(max(rss), 1),
    }


def _order_states(n: int) -> list[tuple[str, bytes, bytes]]:
    """``n`` realistic orders table values: a classified order and its applied event ids."""
    rules = RuleSet.default()
    sample = [
        OrderCreated.model_validate_json(v) for t, _, v in Workload(500).records("") if t == CREATED
    ]
    now = datetime.now(UTC)
    templates = []
    for created in sample[:50]:
        _, snapshot = apply_order(None, created.order)
        facts = OrderFacts.of(created, snapshot)
        record = classify_created(
            facts, rules, event_id=created.event_id, occurred_at=created.occurred_at, now=now
        ).classification
        state = OrderState(
            classification=record,
            applied={created.event_id: "t/0/1"},
            facts=facts,
            notified=newly_fired(None, record),
        )
        templates.append((created.order.order_id, state.model_dump_json()))
    out = []
    for i in range(n):
        order_id, value = templates[i % len(templates)]
        new_id = f"R{i:08d}"
        out.append(("", new_id.encode(), value.replace(order_id, new_id).encode()))
    return out


PHASES = ("new machine", "clean restart", "after kill -9")
PROBES = (*PHASES, "every start")


def _until_ready(proc: subprocess.Popen[bytes], port: int, space: systems.RunSpace) -> float:
    """Seconds from now until the worker's ``/readyz`` answers 200 (30 minutes at most)."""
    started = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"worker exited with {proc.returncode}; see {space.data}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        if time.monotonic() - started > 1800:
            raise SystemExit("no recovery within 30 minutes")
        time.sleep(0.1)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _start(
    space: systems.RunSpace, bootstrap: str, store: str, orders: int, phase: str
) -> dict[str, Any]:
    """Start a worker on the run's data dir, time it to ready, check the last order is served."""
    started = time.monotonic()
    proc, port = _worker(space, 0, bootstrap, store)
    sampler = measure.ProcessSampler(proc.pid, every=0.5)
    try:
        _until_ready(proc, port, space)
        ready = time.monotonic() - started
        rss = _rss_mib(proc.pid)
        if orders:  # the last order written must be there (any worker routes to its owner)
            last = httpx.get(
                f"http://127.0.0.1:{port}/orders/R{orders - 1:08d}",
                headers=apiauth.client_headers(get_settings()),  # the token it generated
                timeout=30,
            )
            if last.status_code != 200:
                raise SystemExit(f"{phase}: worker does not know order R{orders - 1:08d}")
        first = _first_classified(space, bootstrap, phase)
    finally:
        sampler.stop()
    return {"orders": orders, "store": store.split(":")[0], "phase": phase,
            "ready_s": round(ready, 1), "first_order_s": round(first, 1),
            "rss_mib": round(rss, 1), "peak_rss_mib": round(sampler.peak_rss_mib(), 1),
            "proc": proc}  # fmt: skip


def _first_classified(space: systems.RunSpace, bootstrap: str, phase: str) -> float:
    """Seconds from ready until a new order sent then is classified: a worker is ready to
    its users when it classifies, not when ``/readyz`` says its tables are loaded."""
    _, key, value = next(
        r
        for r in Workload(10, order_prefix=f"P{PROBES.index(phase)}").records("")
        if r[0] == CREATED
    )
    started = time.monotonic()
    asyncio.run(produce(bootstrap, [(space.prefix + CREATED, key, value)]))
    if asyncio.run(kafka.wait_for_key(bootstrap, space.classified, key, 1800)):
        return time.monotonic() - started
    raise SystemExit(f"{phase}: an order sent after ready was not classified within 30 minutes")


def recovery_run(orders: int, store: str, root: Path) -> list[dict[str, Any]]:
    """Start -> ready with ``orders`` in the changelog: with RocksDB on a new machine (no
    local state), after a clean stop (it reopens its databases and reads the changelogs from
    the offsets they stored) and after kill -9 (``streams.runtime.local_state`` drops them);
    the memory store reads every changelog at every start."""
    bootstrap = get_settings().bootstrap
    space = systems.RunSpace("recovery", root)
    changelog = f"{space.group}-orders-changelog"
    asyncio.run(kafka.create_topics(bootstrap, space.inputs, 4))
    asyncio.run(kafka.create_topics(bootstrap, [changelog], 4, {"cleanup.policy": "compact"}))
    if orders:
        asyncio.run(produce(bootstrap, [(changelog, k, v) for _, k, v in _order_states(orders)]))
    rows = []
    try:
        # The memory store keeps nothing on disk: every start is a new machine's.
        for phase in PHASES if store.startswith("rocksdb") else ("every start",):
            row = _start(space, bootstrap, store, orders, phase)
            proc = row.pop("proc")
            # a clean stop ends the first two runs (each next one restarts from it); the second
            # ends with kill -9, which the third restarts from
            how = signal.SIGKILL if phase == "clean restart" else signal.SIGTERM
            systems.stop(proc, how, grace=120)
            rows.append(row)
            console.print(row)
    finally:
        asyncio.run(kafka.delete_topics_with(bootstrap, space.token))
    return rows


@click.command()
@click.option("--events", default=20000, show_default=True, help="events for the workers curve")
@click.option("--workers", default="1,2", show_default=True)
@click.option("--orders", default="0,100000", show_default=True, help="orders in state")
@click.option("--stores", default="memory://,rocksdb://", show_default=True)
@click.option("--json", "json_path", type=click.Path(path_type=Path),
              default=Path(".cache/bench/scaling.json"), show_default=True)  # fmt: skip
def main(events: int, workers: str, orders: str, stores: str, json_path: Path) -> None:
    """Throughput by worker count; recovery time and memory by state size and store."""
    root = json_path.parent.absolute() / "runs"
    records = list(Workload(events).records(""))
    curve = []
    for count in (int(w) for w in workers.split(",") if w):
        curve.append(workers_run(count, records, root))
        console.print(curve[-1])
    recovery = []
    for store in (s for s in stores.split(",") if s):
        for n in (int(o) for o in orders.split(",") if o):
            recovery.extend(recovery_run(n, store, root))
    add_memory_per_order(recovery)
    table = Table(title="ordertriage scaling")
    for col in ("workers", "events/s", "CPU ms/event (all)", "peak RSS MiB/worker"):
        table.add_column(col, justify="right")
    for row in curve:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    rtable = Table(title="recovery of the orders table")
    for col in (
        "orders",
        "store",
        "start",
        "start -> ready s",
        "ready -> an order classified s",
        "RSS MiB when ready",
        "peak RSS MiB",
        "KiB/order over empty",
    ):
        rtable.add_column(col, justify="right")
    for row in recovery:
        rtable.add_row(*("-" if v is None else str(v) for v in row.values()))
    console.print(rtable)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    result = {"workers": curve, "recovery": recovery, "machine": report_machine()}
    json_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


def add_memory_per_order(rows: list[dict[str, Any]]) -> None:
    """The RSS once ready over the same start's with no orders, per order (None without one)."""
    empty = {(r["store"], r["phase"]): r["rss_mib"] for r in rows if r["orders"] == 0}
    for row in rows:
        base = empty.get((row["store"], row["phase"]))
        per = (row["rss_mib"] - base) * 1024 / row["orders"] if row["orders"] and base else None
        row["kib_per_order"] = None if per is None else round(per, 2)


def report_machine() -> dict[str, Any]:
    from streams.tools.bench.report import machine

    return machine()


if __name__ == "__main__":
    main()
