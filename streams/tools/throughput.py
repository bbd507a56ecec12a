"""``make throughput``: orders per second through one worker, on the real broker.

Each run preloads a seeded sample (no bad records) into fresh topics, starts a worker with
its own consumer group, and times the classified output from its first to its last record as
they arrive.
Prints every run and the median; ``--json`` writes the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import httpx

from streams.kafka.io import group_lag, produce, records
from streams.settings import get_settings
from streams.tools.bench.kafka import delete_topics_with
from streams.tools.sample import SampleStream
from streams.topics import CLASSIFIED, CREATED, STATUS_CHANGED


@dataclass
class Run:
    orders: int
    input_records: int
    classified_records: int
    seconds: float
    orders_per_s: float
    input_records_per_s: float
    #: Until the group has committed everything, the insight agent's records included
    #: (commits run every 2.8 s: up to that much more than the work itself).
    drained_seconds: float
    drained_orders_per_s: float
    worker_cpu_s: float
    worker_peak_rss_mib: float


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _count_classified(
    bootstrap: str, topic: str, expected: int, limit_s: float
) -> tuple[int, float, float]:
    first = last = 0.0
    seen = 0
    deadline = time.monotonic() + limit_s
    # Stops after 60 s without a new record, so a dead worker fails the run quickly.
    async for _record in records(bootstrap, [topic], from_beginning=True, idle_timeout=60):
        seen += 1
        # Arrival here, not the record's timestamp: classified records carry their input's
        # timestamp (analytics windows replay exactly), which says when the input was produced.
        ts = time.time()
        first = first or ts
        last = max(last, ts)
        if seen >= expected or time.monotonic() > deadline:
            break
    return seen, first, last


def _wait_drained(bootstrap: str, group: str, prefix: str, limit_s: float = 600) -> float:
    """When the group had committed every topic the worker reads (wall clock)."""
    topics = [prefix + CREATED, prefix + STATUS_CHANGED, prefix + CLASSIFIED] + [
        f"{group}-{name}" for name in ("orders-by-customer", "orders-enriched", "insight-customers")
    ]
    deadline = time.monotonic() + limit_s
    while any(asyncio.run(group_lag(bootstrap, group, topics)).values()):
        if time.monotonic() > deadline:
            raise SystemExit(f"group {group} not drained within {limit_s:g}s")
        time.sleep(0.25)  # polling the broker: the commit is the event, and it is remote
    return time.time()


def one_run(orders: int, seed: int) -> Run:
    settings = get_settings()
    token = uuid.uuid4().hex[:8]
    prefix = f"tp{token}."
    sample = list(SampleStream(orders, seed=seed, bad_share=0.0, prefix=prefix))
    asyncio.run(produce(settings.bootstrap, sample))
    env = dict(os.environ)
    data = tempfile.mkdtemp(prefix="ordertriage-tp-")
    with socket.socket() as probe:  # a free port for this run's web server
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env.update(
        {
            "ORDERTRIAGE_TOPIC_PREFIX": prefix,
            "ORDERTRIAGE_APP_ID": f"tp-{token}",
            "ORDERTRIAGE_DATA_DIR": data,
            "ORDERTRIAGE_WEB_PORT": str(port),
            "ORDERTRIAGE_LOG_LEVEL": "warning",
        }
    )
    log = Path(data) / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        created = sum(1 for topic, _, _ in sample if topic.endswith(CREATED))
        expected = len(sample)  # every record here classifies: one output per input
        seen, first, last = asyncio.run(
            _count_classified(settings.bootstrap, prefix + CLASSIFIED, expected, 600)
        )
        if seen < expected:
            raise SystemExit(f"only {seen}/{expected} classified; see {log}")
        drained = _wait_drained(settings.bootstrap, f"tp-{token}", prefix) - first
        cpu, rss = _cpu_seconds(proc.pid), _peak_rss_mib(proc.pid)
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).raise_for_status()
    finally:
        proc.terminate()
        proc.wait(60)
        # As the bench does: a broker that keeps every run's ~28 topics slows later runs.
        asyncio.run(delete_topics_with(settings.bootstrap, token))
    seconds = max(last - first, 1e-3)
    return Run(
        orders=created,
        input_records=len(sample),
        classified_records=seen,
        seconds=round(seconds, 2),
        orders_per_s=round(created / seconds, 1),
        input_records_per_s=round(len(sample) / seconds, 1),
        drained_seconds=round(drained, 2),
        drained_orders_per_s=round(created / drained, 1),
        worker_cpu_s=round(cpu, 2),
        worker_peak_rss_mib=round(rss, 1),
    )


@click.command()
@click.option("--orders", default=5000, show_default=True, help="orders per run")
@click.option("--runs", default=3, show_default=True, help="runs; the median is reported")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None)
def main(orders: int, runs: int, json_path: Path | None) -> None:
    results = []
    for i in range(runs):
        run = one_run(orders, seed=1000 + i)
        results.append(run)
        print(
            f"run {i + 1}: {run.orders} orders + status changes = {run.input_records} records"
            f" in {run.seconds}s -> {run.orders_per_s} orders/s, {run.input_records_per_s}"
            f" records/s; drained in {run.drained_seconds}s -> {run.drained_orders_per_s}"
            f" orders/s; worker CPU {run.worker_cpu_s}s, peak RSS {run.worker_peak_rss_mib} MiB",
            flush=True,
        )
    med = {
        k: statistics.median(getattr(r, k) for r in results)
        for k in (
            "orders_per_s",
            "input_records_per_s",
            "drained_orders_per_s",
            "worker_cpu_s",
            "worker_peak_rss_mib",
        )
    }
    print(
        f"median of {runs}: {med['orders_per_s']} orders/s, {med['input_records_per_s']}"
        f" input records/s classified; {med['drained_orders_per_s']} orders/s with every stage"
        f" drained; worker CPU {med['worker_cpu_s']}s, peak RSS {med['worker_peak_rss_mib']} MiB"
    )
    if json_path:
        json_path.write_text(json.dumps({"runs": [asdict(r) for r in results], "median": med}))


if __name__ == "__main__":
    main()
