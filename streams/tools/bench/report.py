"""The benchmark's table (rich) and JSON: medians per system, ratios, the digest verdict."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from streams.tools.bench.measure import median
from streams.tools.bench.runs import SETTLE_S, LatencyRun, ThroughputRun
from streams.tools.bench.systems import SYSTEMS

#: The column of the p99 without a run's first seconds (``runs.SETTLE_S``).
SETTLED = f"p99 after {SETTLE_S:g} s"


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        "note": "broker, load generator and system under test share these cores",
    }


def summarize(
    throughput: list[ThroughputRun], latency: list[LatencyRun]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for system in SYSTEMS:
        tr = [r for r in throughput if r.system == system]
        lr = [r for r in latency if r.system == system]
        if not tr:
            continue
        out[system] = {
            "events_per_s": median([r.events_per_s for r in tr]),
            "classified_per_s": median([r.classified_per_s for r in tr]),
            "cpu_ms_per_event": median([r.cpu_ms_per_event for r in tr]),
            "peak_rss_mib": median([r.peak_rss_mib for r in tr]),
            "produced_per_input": median([r.produced_per_input for r in tr]),
            **latency_medians(lr, cores="cores_at_latency_rate"),
        }
    return out


def latency_medians(runs: list[LatencyRun], *, cores: str) -> dict[str, float]:
    """The latency figures of ``runs``, medians (the cores figure under the name ``cores``)."""
    return {
        "p50_ms": median([r.p50_ms for r in runs]),
        "p99_ms": median([r.p99_ms for r in runs]),
        "p99_settled_ms": median([r.p99_settled_ms for r in runs]),
        "p999_ms": median([r.p999_ms for r in runs]),
        cores: median([r.cores for r in runs]),
    }


def ratios(summary: dict[str, dict[str, float]], figure: str = "events_per_s") -> dict[str, float]:
    """ordertriage against each other system; the Faust floor against the ceiling and the peer
    (what any Faust agent with ordertriage's output count reaches on this machine)."""
    pairs = [("ordertriage", other) for other in ("ceiling", "floor", "peer", "baseline")]
    pairs += [("floor", "ceiling"), ("floor", "peer")]
    return {
        f"{a}/{b}": round(summary[a][figure] / summary[b][figure], 2)
        for a, b in pairs
        if a in summary and b in summary and summary[b][figure]
    }


def render(result: dict[str, Any], console: Console) -> None:
    summary = result["median"]
    table = Table(
        title=f"make bench: {result['inputs']} input events, median of {result['runs']} runs;"
        f" latency at {result['latency_rate']:.0f} events/s",
    )
    for col in ("system", "events/s drained", "classified/s", "CPU ms/event", "peak RSS MiB",
                "produced/input", "p50 ms", "p99 ms", SETTLED, "p99.9 ms",
                "cores"):  # fmt: skip
        table.add_column(col, justify="left" if col == "system" else "right")
    for system, row in summary.items():
        table.add_row(
            system,
            f"{row['events_per_s']:.0f}",
            f"{row.get('classified_per_s', 0):.0f}",
            f"{row['cpu_ms_per_event']:.3f}",
            f"{row['peak_rss_mib']:.0f}",
            f"{row['produced_per_input']:.2f}",
            f"{row['p50_ms']:.0f}",
            f"{row['p99_ms']:.0f}",
            f"{row.get('p99_settled_ms', float('nan')):.0f}",
            f"{row['p999_ms']:.0f}",
            f"{row.get('cores_at_latency_rate', float('nan')):.2f}",
        )
    console.print(table)
    console.print(
        "cores: CPU the system used while the latency run's inputs arrived;"
        f" {SETTLED}: of the inputs sent after its first {SETTLE_S:g} s (a fresh worker's first"
        " seconds left out)"
    )
    if high := result.get("high_load"):
        console.print(near_limit_line(high))
    for name, key in (("throughput", "ratios"), ("CPU per event", "cpu_ratios")):
        pairs = ", ".join(f"{k} = {v:.2f}" for k, v in result[key].items())
        console.print(f"{name} ratios: {pairs}")
    for line in targets(result):
        console.print(line)
    verdict = result["digests"]
    if verdict["agree"]:
        console.print(f"outputs agree: ordertriage and peer digests {verdict['values']}")
    else:
        console.print(f"[bold red]VOID: outputs differ[/] ({verdict['detail']})")


#: Issue 17's targets: (figure, ratio key or system, bound, at most?).
TARGETS = (
    ("throughput", "ratios", "ordertriage/ceiling", 0.35, False),
    ("throughput", "ratios", "ordertriage/peer", 1.2, False),
    ("CPU per event", "cpu_ratios", "ordertriage/ceiling", 3.0, True),
    ("p50 ms", "median", "p50_ms", 20.0, True),
    ("p99 ms", "median", "p99_ms", 100.0, True),
    ("p50 ms near the limit", "high_load", "p50_ms", 20.0, True),
    ("p99 ms near the limit", "high_load", "p99_ms", 250.0, True),
)


def targets(result: dict[str, Any]) -> list[str]:
    """One line per target the run could judge: the figure, the bound, met or not."""
    lines = []
    for name, key, figure, bound, at_most in TARGETS:
        if key == "median":
            value = result["median"].get("ordertriage", {}).get(figure)
        elif key == "high_load":
            value = (result.get("high_load") or {}).get(figure)
        else:
            value = result[key].get(figure)
        if value is None:
            continue
        met = value <= bound if at_most else value >= bound
        sign = "<=" if at_most else ">="
        lines.append(
            f"target {name}{f' {figure}' if key in ('ratios', 'cpu_ratios') else ''}"
            f" {value:g} {sign} {bound:g}:"
            f" {'met' if met else 'NOT met'}"
        )
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The table as Markdown, for the README."""
    rows = [
        "| system | events/s drained | classified/s | CPU ms/event | peak RSS MiB | produced/input"
        f" | p50 ms | p99 ms | {SETTLED} | p99.9 ms | cores at latency rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for system, r in result["median"].items():
        rows.append(
            f"| {system} | {r['events_per_s']:.0f} | {r.get('classified_per_s', 0):.0f}"
            f" | {r['cpu_ms_per_event']:.3f}"
            f" | {r['peak_rss_mib']:.0f} | {r['produced_per_input']:.2f} | {r['p50_ms']:.0f}"
            f" | {r['p99_ms']:.0f} | {r.get('p99_settled_ms', float('nan')):.0f}"
            f" | {r['p999_ms']:.0f}"
            f" | {r.get('cores_at_latency_rate', float('nan')):.2f} |"
        )
    if high := result.get("high_load"):
        rows.append("\n" + near_limit_line(high))
    return "\n".join(rows) + "\n"


def near_limit(share: float, runs: list[LatencyRun]) -> dict[str, float] | None:
    """Medians of ordertriage's latency runs near its limit (``share`` of its drained rate)."""
    if not runs:
        return None
    return {
        "share": share,
        "rate": median([r.rate for r in runs]),
        **latency_medians(runs, cores="cores"),
    }


def near_limit_line(high: dict[str, float]) -> str:
    return (
        f"ordertriage at {high['share']:.0%} of its drained rate ({high['rate']:.0f} events/s):"
        f" p50 {high['p50_ms']:.0f} ms, p99 {high['p99_ms']:.0f} ms ({SETTLED}"
        f" {high['p99_settled_ms']:.0f} ms), p99.9 {high['p999_ms']:.0f} ms,"
        f" {high['cores']:.2f} cores"
    )


def write(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    path.with_suffix(".md").write_text(markdown(result))


def build(
    *,
    inputs: int,
    runs: int,
    rate: float,
    throughput: list[ThroughputRun],
    latency: list[LatencyRun],
    digests: dict[str, Any],
    high_load: float = 0.0,
    high: list[LatencyRun] | None = None,
) -> dict[str, Any]:
    summary = summarize(throughput, latency)
    return {
        "inputs": inputs,
        "runs": runs,
        "latency_rate": rate,
        "median": summary,
        "ratios": ratios(summary),
        # CPU per event suffers least from other load on a shared machine.
        "cpu_ratios": ratios(summary, "cpu_ms_per_event"),
        "digests": digests,
        "high_load": near_limit(high_load, high or []),
        "throughput_runs": [
            {k: v for k, v in asdict(r).items() if k != "orders"} for r in throughput
        ],
        "latency_runs": [asdict(r) for r in latency],
        "high_load_runs": [asdict(r) for r in high or []],
        "machine": machine(),
    }
