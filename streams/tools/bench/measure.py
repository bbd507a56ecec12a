"""Figures from a run: throughput after warm-up, CPU per event, memory, latency, output digest."""

from __future__ import annotations

import bisect
import hashlib
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil

from streams.tools.bench.kafka import Record

#: Throughput is read between these shares of the outputs: before, the process is starting
#: and fetching; after, the last partitions drain unevenly.
WARM, COOL = 0.10, 0.90


@dataclass
class ProcessSampler:
    """Samples a process's CPU seconds and RSS every ``every`` seconds, in a thread."""

    pid: int
    every: float = 0.1
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # wall, cpu, rss
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._proc = psutil.Process(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                cpu = self._proc.cpu_times()
                rss = self._proc.memory_info().rss
            except psutil.Error:
                return
            self.samples.append((time.time(), cpu.user + cpu.system, rss))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def cpu_at(self, wall: float) -> float:
        """CPU seconds at wall-clock time ``wall``, interpolated between samples."""
        times = [s[0] for s in self.samples]
        i = bisect.bisect_left(times, wall)
        if i <= 0:
            return self.samples[0][1]
        if i >= len(self.samples):
            return self.samples[-1][1]
        (t0, c0, _), (t1, c1, _) = self.samples[i - 1], self.samples[i]
        return c0 + (c1 - c0) * (wall - t0) / max(t1 - t0, 1e-9)

    def peak_rss_mib(self) -> float:
        """The kernel's high-water mark when readable, else the highest sample."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return max((s[2] for s in self.samples), default=0) / 2**20


@dataclass
class Throughput:
    #: Inputs per second from the first output until every stage had drained (committed).
    events_per_s: float
    cpu_ms_per_event: float
    seconds: float
    #: The sustained rate of the first stage alone: classified records over the WARM..COOL
    #: share of outputs. Later stages may still trail it (the figure the bench used to quote).
    classified_per_s: float


def throughput(outputs: list[Record], sampler: ProcessSampler, drained: float) -> Throughput:
    """Drained rate and CPU per event, and the first stage's rate (see ``Throughput``)."""
    stamps = sorted(r.timestamp / 1000 for r in outputs)
    lo, hi = int(len(stamps) * WARM), max(int(len(stamps) * COOL) - 1, 0)
    classified = max(hi - lo, 1) / max(stamps[hi] - stamps[lo], 1e-3)
    seconds = max(drained - stamps[0], 1e-3)
    cpu = sampler.cpu_at(drained) - sampler.cpu_at(stamps[0])
    return Throughput(
        events_per_s=len(outputs) / seconds,
        cpu_ms_per_event=1000 * cpu / len(outputs),
        seconds=seconds,
        classified_per_s=classified,
    )


def event_id_of(value: bytes) -> str:
    """The input event id an output answers (a classified record's or a byte copy's own)."""
    return str(orjson.loads(value)["event_id"])


def answered_ms(sent: dict[str, int], outputs: list[Record]) -> dict[str, float]:
    """Per input event id: output append time minus input create time, first output only."""
    seen: dict[str, float] = {}
    for r in outputs:
        eid = event_id_of(r.value)
        if eid in sent and eid not in seen:
            seen[eid] = r.timestamp - sent[eid]
    return seen


def write_trace(
    path: Path, sent: dict[str, int], seen: dict[str, float], kinds: dict[str, str]
) -> None:
    """One CSV row per answered input, in send order: when it was sent (s from the first),
    its latency and its kind, and the wall-clock time to match with the worker's log; where a
    tail comes from (a stall, a slow kind) shows here."""
    first = min(sent.values(), default=0)
    rows = sorted((sent[e], e) for e in seen)
    lines = ["sent_s,latency_ms,kind,event_id,sent_at"]
    lines += [
        f"{(t - first) / 1000:.3f},{seen[e]:.0f},{kinds.get(e, '')},{e},"
        + datetime.fromtimestamp(t / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
        for t, e in rows
    ]
    path.write_text("\n".join(lines) + "\n")


def latencies_ms(sent: dict[str, int], outputs: list[Record]) -> dict[str, float]:
    """p50/p99/p99.9 of output append time minus input create time, first output per input."""
    values = sorted(answered_ms(sent, outputs).values())
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "p99.9": float("nan"), "n": 0}

    def q(p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))]

    return {"p50": q(0.5), "p99": q(0.99), "p99.9": q(0.999), "n": len(values)}


def classifications(
    classified: list[Record], notifications: list[Record]
) -> dict[str, dict[str, object]]:
    """Every order's classification, status path and notifications (no timestamps).

    Per order: the created classification's tier, segment, priority, tags and product types,
    the statuses it went through in order, and the set of notification kinds. Duplicated
    outputs (at-least-once) collapse, so a replay does not change the digest.
    """
    orders: dict[str, dict[str, object]] = {}
    for r in classified:
        c = orjson.loads(r.value)
        entry = orders.setdefault(c["order_id"], {"statuses": [], "notify": set()})
        if c["cause"] == "order-created":
            entry["class"] = [
                c["value_tier"], c["customer_segment"], c["priority"], c["tags"],
                c["product_types"], c["primary_product_type"],
            ]  # fmt: skip
        statuses = entry["statuses"]
        assert isinstance(statuses, list)
        if c["status"] not in statuses:
            statuses.append(c["status"])
    for r in notifications:
        n = orjson.loads(r.value)
        notify = orders.setdefault(n["order_id"], {"statuses": [], "notify": set()})["notify"]
        assert isinstance(notify, set)
        notify.add(n["kind"])
    for entry in orders.values():
        entry["notify"] = sorted(entry["notify"])  # type: ignore[call-overload]
    return orders


def digest(orders: dict[str, dict[str, object]]) -> str:
    canonical = orjson.dumps(orders, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def median(values: list[float]) -> float:
    clean = [v for v in values if v == v]  # drop NaN
    return statistics.median(clean) if clean else float("nan")
