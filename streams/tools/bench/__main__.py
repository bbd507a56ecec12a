"""``python -m streams.tools.bench``: the systems, interleaved, on one broker; table and JSON.

Order of work: ``--runs`` rounds of throughput runs (ordertriage first in each round, since its
produced/input ratio sets the ceiling's fan-out), then the latency runs at half the slowest
system's median throughput, then ordertriage's own latency runs at ``--high-load`` (80%) of its
median drained throughput (how it answers near its limit, not only at half of it).
Ordertriage's and the peer's classifications are compared round by round; any difference voids
the result (exit status 2).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from streams.settings import get_settings
from streams.tools.bench import report
from streams.tools.bench.measure import median
from streams.tools.bench.runs import LatencyRun, ThroughputRun, latency_run, throughput_run
from streams.tools.bench.workload import Workload

ORDER = ("ordertriage", "ceiling", "floor", "peer")
console = Console(soft_wrap=True, width=120)


def compare(throughput: list[ThroughputRun]) -> dict[str, Any]:
    """Ordertriage vs peer, per round: same digest, or the first differing orders."""
    ot = [r for r in throughput if r.system == "ordertriage"]
    peer = [r for r in throughput if r.system == "peer"]
    values = sorted({r.digest for r in ot + peer})
    for a, b in zip(ot, peer, strict=False):
        if a.digest != b.digest:
            diff = [
                k
                for k in sorted(set(a.orders) | set(b.orders))
                if a.orders.get(k) != b.orders.get(k)
            ]
            first = diff[0] if diff else ""
            detail = (
                f"{len(diff)} orders differ; e.g. {first}: ordertriage {a.orders.get(first)}"
                f" vs peer {b.orders.get(first)}"
            )
            return {"agree": False, "values": values, "detail": detail}
    if not ot or not peer:
        return {"agree": False, "values": values, "detail": "ordertriage or peer did not run"}
    return {"agree": True, "values": values, "detail": f"{len(ot[0].orders)} orders"}


@click.command()
@click.option("--events", default=20000, show_default=True, help="input events per run")
@click.option("--runs", default=3, show_default=True, help="interleaved runs; medians reported")
@click.option("--latency-seconds", default=15.0, show_default=True, help="length of latency runs")
@click.option("--partitions", default=4, show_default=True, help="partitions of every topic")
@click.option("--timeout", default=600.0, show_default=True, help="limit per throughput run (s)")
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path),
    default=Path(".cache/bench/result.json"), show_default=True,
)  # fmt: skip
@click.option("--seed", default=4242, show_default=True)
@click.option("--rate", default=0.0, help="latency runs' input rate (0 = half the slowest)")
@click.option(
    "--high-load", default=0.8, show_default=True,
    help="ordertriage's latency runs at this share of its drained throughput (0: none)",
)  # fmt: skip
@click.option(
    "--baseline", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
    help="also run the worker of this checkout as system 'baseline' (before/after a change)",
)  # fmt: skip
@click.option(
    "--profile", type=click.Path(path_type=Path), default=None,
    help="record py-spy profiles of each system's throughput runs into this folder",
)  # fmt: skip
@click.option(
    "--systems", "only", default=",".join(ORDER), show_default=True,
    help="comma-separated subset to run (for debugging one system)",
)  # fmt: skip
def main(
    events: int,
    runs: int,
    latency_seconds: float,
    partitions: int,
    timeout: float,
    json_path: Path,
    seed: int,
    rate: float,
    high_load: float,
    only: str,
    profile: Path | None,
    baseline: Path | None,
) -> None:
    """Ceiling (aiokafka byte copy), floor (the same copy as a Faust agent), ordertriage (the
    worker), peer (Quix Streams), side by side."""
    chosen = [s for s in ORDER if s in only.split(",")]
    bootstrap = get_settings().bootstrap
    root = json_path.parent.absolute() / "runs"  # logs and data of every run
    shutil.rmtree(root, ignore_errors=True)
    env = {"ORDERTRIAGE_TOPIC_PARTITIONS": str(partitions)}
    if baseline:
        env["BENCH_BASELINE_SRC"] = str(baseline.absolute())
        chosen.insert(1, "baseline")
    records = list(Workload(events, seed=seed, partitions=partitions).records(""))
    common: dict[str, Any] = {"bootstrap": bootstrap, "root": root, "partitions": partitions}

    throughput: list[ThroughputRun] = []
    for i in range(runs):
        fanout = 1.0
        for system in chosen:
            run = throughput_run(
                system,
                records,
                fanout=fanout,
                timeout=timeout,
                env=env,
                profile=profile,
                **common,
            )
            if system == "ordertriage":
                fanout = run.produced_per_input
            throughput.append(run)
            console.print(
                f"run {i + 1} {system:<11} {run.events_per_s:>8.0f} events/s drained"
                f" ({run.classified_per_s:.0f} classified)"
                f"  {run.cpu_ms_per_event:.3f} CPU ms/event  {run.peak_rss_mib:.0f} MiB"
                f"  {run.produced_per_input:.2f} produced/input  {run.digest}"
            )

    slowest = min(median([r.events_per_s for r in throughput if r.system == s]) for s in chosen)
    rate = rate or slowest / 2
    fanout = median([r.produced_per_input for r in throughput if r.system == "ordertriage"])
    fanout = 1.0 if fanout != fanout else fanout  # NaN without ordertriage
    count = max(200, int(rate * latency_seconds))
    lat_records = list(
        Workload(count, seed=seed + 1, partitions=partitions, order_prefix="LT").records("")
    )
    latency: list[LatencyRun] = []
    for i in range(runs):
        for system in chosen:
            lat = latency_run(system, lat_records, rate=rate, fanout=fanout, env=env, **common)
            latency.append(lat)
            console.print(
                f"latency {i + 1} {system:<11} at {lat.rate:.0f}/s: p50 {lat.p50_ms:.0f} ms,"
                f" p99 {lat.p99_ms:.0f} ms ({report.SETTLED} {lat.p99_settled_ms:.0f} ms),"
                f" p99.9 {lat.p999_ms:.0f} ms ({lat.measured} events;"
                f" p50 created {lat.p50_created_ms:.0f} ms, status {lat.p50_status_ms:.0f} ms;"
                f" {lat.cores:.2f} cores)"
            )

    high: list[LatencyRun] = []
    drained = [r.events_per_s for r in throughput if r.system == "ordertriage"]
    if high_load > 0 and drained:
        high_rate = high_load * median(drained)
        high_records = list(
            Workload(
                max(200, int(high_rate * latency_seconds)),
                seed=seed + 2,
                partitions=partitions,
                order_prefix="HL",
            ).records("")
        )
        for i in range(runs):
            lat = latency_run(
                "ordertriage", high_records, rate=high_rate, fanout=fanout, env=env, **common
            )
            high.append(lat)
            console.print(
                f"latency {i + 1} ordertriage at {high_load:.0%} of its drained rate,"
                f" {lat.rate:.0f}/s: p50 {lat.p50_ms:.0f} ms, p99 {lat.p99_ms:.0f} ms"
                f" ({report.SETTLED} {lat.p99_settled_ms:.0f} ms), p99.9 {lat.p999_ms:.0f} ms"
                f" ({lat.measured} events; {lat.cores:.2f} cores)"
            )

    result = report.build(
        inputs=len(records), runs=runs, rate=rate, throughput=throughput,
        latency=latency, digests=compare(throughput), high_load=high_load, high=high,
    )  # fmt: skip
    report.write(result, json_path)
    report.render(result, console)
    console.print(f"JSON: {json_path}")
    if not result["digests"]["agree"]:
        sys.exit(2)


if __name__ == "__main__":
    main()
