"""One measured run of one system: a throughput run on a preloaded backlog, or a latency run."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from streams.kafka import clients
from streams.kafka.io import produce
from streams.tools.bench import kafka, measure, systems
from streams.tools.bench.workload import Workload
from streams.topics import CREATED, FEEDBACK_CLASSIFIED, FEEDBACK_RECEIVED


@dataclass
class ThroughputRun:
    system: str
    inputs: int
    events_per_s: float
    cpu_ms_per_event: float
    peak_rss_mib: float
    produced_per_input: float
    #: The first stage's rate alone (``measure.Throughput.classified_per_s``).
    classified_per_s: float = 0.0
    digest: str = ""
    orders: dict[str, dict[str, object]] = field(default_factory=dict, repr=False)


#: Seconds at the start of a latency run left out of its settled p99.
SETTLE_S = 5.0


@dataclass
class LatencyRun:
    system: str
    rate: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    measured: int
    p50_created_ms: float = float("nan")  # created orders take two internal hops
    p50_status_ms: float = float("nan")
    #: The p99 of the inputs sent after the first ``SETTLE_S`` seconds: without a fresh
    #: worker's first seconds (its first sends to every partition), which dominate a short run.
    p99_settled_ms: float = float("nan")
    #: CPU cores the system used while the inputs arrived: near 1 (its event loop's share of
    #: this machine) means it is saturated at this rate, whatever its backlog throughput.
    cores: float = float("nan")


def _fail(space: systems.RunSpace, what: str) -> SystemExit:
    log = space.data / "log"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
    return SystemExit(f"{space.system}: {what}; log {log}:\n{tail}")


def _discard(space: systems.RunSpace, bootstrap: str) -> None:
    """Delete the run's topics once it is measured (its log and data folder stay)."""
    asyncio.run(kafka.delete_topics_with(bootstrap, space.token))


async def _prepare(space: systems.RunSpace, bootstrap: str, partitions: int) -> None:
    await kafka.create_topics(bootstrap, space.inputs, partitions)
    await kafka.create_topics(
        bootstrap, systems.output_topics(space), partitions, kafka.APPEND_TIME
    )


def throughput_run(
    system: str,
    records: list[tuple[str, bytes, bytes]],
    *,
    bootstrap: str,
    root: Path,
    partitions: int,
    fanout: float,
    timeout: float,
    env: dict[str, str],
    profile: Path | None = None,
) -> ThroughputRun:
    """Preload ``records`` (topic names without prefix), then time the system draining them."""
    space = systems.RunSpace(system, root)
    asyncio.run(_prepare(space, bootstrap, partitions))
    asyncio.run(produce(bootstrap, [(space.prefix + t, k, v) for t, k, v in records]))
    proc = systems.start(space, bootstrap, fanout, env)
    sampler = measure.ProcessSampler(proc.pid)
    spy = systems.profile(proc.pid, profile / f"{system}.txt") if profile else None
    try:
        outputs = asyncio.run(
            kafka.read_until(bootstrap, [space.classified], len(records), timeout)
        )
        if spy is not None:
            systems.stop(spy, signal.SIGINT, grace=30)
        if proc.poll() is not None:
            raise _fail(space, f"exited with {proc.returncode}")
        if len(outputs) < len(records):
            raise _fail(space, f"only {len(outputs)}/{len(records)} outputs in {timeout:g}s")
        notes: list[kafka.Record] = []
        if system not in systems.COPIERS:  # notifications may trail the last classified record
            notes = asyncio.run(
                kafka.read_until(bootstrap, [space.notifications], 10**9, timeout, idle=1)
            )
        drained = asyncio.run(kafka.drained_at(bootstrap, space.group, space.inputs, timeout))
        written = asyncio.run(kafka.records_written(bootstrap, space.token, set(space.inputs)))
        figures = measure.throughput(outputs, sampler, drained)
        peak = sampler.peak_rss_mib()
    finally:
        sampler.stop()
        systems.stop(proc)
        _discard(space, bootstrap)
    orders = measure.classifications(outputs, notes) if system not in systems.COPIERS else {}
    return ThroughputRun(
        system=system,
        inputs=len(records),
        events_per_s=round(figures.events_per_s, 1),
        classified_per_s=round(figures.classified_per_s, 1),
        cpu_ms_per_event=round(figures.cpu_ms_per_event, 3),
        peak_rss_mib=round(peak, 1),
        produced_per_input=round(sum(written.values()) / len(records), 3),
        digest=measure.digest(orders) if orders else "",
        orders=orders,
    )


async def _warm_up(space: systems.RunSpace, bootstrap: str, deadline_s: float) -> int:
    """Send one order at a time until an output appears (every stage is then running);
    returns how many were sent. ordertriage builds its feedback model in a thread once ready
    (~2.5 s of CPU, docs/feedback.md): that start-up step is waited for too, by a feedback."""
    probes = Workload(events=500, seed=99, order_prefix="WU").records(space.prefix)
    created = (r for r in probes if r[0].endswith(CREATED))
    producer = clients.producer(bootstrap)
    consumer = clients.consumer(
        bootstrap, space.classified, auto_offset_reset="earliest",
        enable_auto_commit=False, fetch_max_wait_ms=50, metadata_max_age_ms=1000,
    )  # fmt: skip
    await producer.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + deadline_s
        sent = 0
        while time.monotonic() < deadline:
            topic, key, value = next(created)
            await producer.send_and_wait(topic, value=value, key=key)
            sent += 1
            if await consumer.getmany(timeout_ms=1000):
                if space.system in ("ordertriage", "baseline"):
                    await _feedback_answered(space, bootstrap, producer, deadline)
                return sent
        raise TimeoutError(f"{space.system}: no output within {deadline_s:g}s of starting")
    finally:
        await consumer.stop()
        await producer.stop()


async def _feedback_answered(
    space: systems.RunSpace, bootstrap: str, producer: AIOKafkaProducer, deadline: float
) -> None:
    """One feedback in, until its classified record is out."""
    consumer = clients.consumer(
        bootstrap, space.prefix + FEEDBACK_CLASSIFIED, auto_offset_reset="earliest",
        enable_auto_commit=False, fetch_max_wait_ms=50, metadata_max_age_ms=1000,
    )  # fmt: skip
    await consumer.start()
    try:
        value = orjson.dumps(
            {
                "event_id": "WU-FB-1",
                "occurred_at": "2026-01-01T00:00:00Z",
                "feedback_id": "WU-FB-1",
                "channel": "email",
                "customer_id": "WU-C-1",
                "text": "the parcel arrived late",
            }
        )
        await producer.send_and_wait(space.prefix + FEEDBACK_RECEIVED, value=value, key=b"WU-FB-1")
        while time.monotonic() < deadline:
            if await consumer.getmany(timeout_ms=1000):
                return
        raise TimeoutError(f"{space.system}: no feedback classified within the warm-up")
    finally:
        await consumer.stop()


def latency_run(
    system: str,
    records: list[tuple[str, bytes, bytes]],
    *,
    rate: float,
    bootstrap: str,
    root: Path,
    partitions: int,
    fanout: float,
    env: dict[str, str],
) -> LatencyRun:
    """Start the system idle, then produce ``records`` at ``rate``/s and time every answer."""
    space = systems.RunSpace(system, root)
    asyncio.run(_prepare(space, bootstrap, partitions))
    proc = systems.start(space, bootstrap, fanout, env)
    try:
        try:
            probes = asyncio.run(_warm_up(space, bootstrap, 120))
        except TimeoutError as exc:
            raise _fail(space, str(exc)) from None
        prefixed = [(space.prefix + t, k, v) for t, k, v in records]
        sampler = measure.ProcessSampler(proc.pid)
        try:
            stamps = asyncio.run(kafka.produce_timed(bootstrap, prefixed, rate))
        finally:
            sampler.stop()
        first, last = min(stamps) / 1000, max(stamps) / 1000
        cores = (sampler.cpu_at(last) - sampler.cpu_at(first)) / max(last - first, 1e-3)
        sent = {
            str(orjson.loads(v)["event_id"]): ts
            for (_, _, v), ts in zip(prefixed, stamps, strict=True)
        }
        expected = len(records) + probes  # one classified record (or first copy) per input
        outputs = asyncio.run(
            kafka.read_until(bootstrap, [space.classified], expected, 120, idle=30)
        )
    finally:
        systems.stop(proc)
        _discard(space, bootstrap)
    lat = measure.latencies_ms(sent, outputs)
    created = {str(orjson.loads(v)["event_id"]) for t, _, v in prefixed if t.endswith(CREATED)}
    kinds = {e: "created" if e in created else "status" for e in sent}
    measure.write_trace(space.data / "latency.csv", sent, measure.answered_ms(sent, outputs), kinds)
    lat_created = measure.latencies_ms({k: v for k, v in sent.items() if k in created}, outputs)
    lat_status = measure.latencies_ms({k: v for k, v in sent.items() if k not in created}, outputs)
    settle_at = min(sent.values(), default=0) + SETTLE_S * 1000
    lat_settled = measure.latencies_ms({k: v for k, v in sent.items() if v >= settle_at}, outputs)
    return LatencyRun(
        system=system,
        rate=round(rate, 1),
        p50_ms=lat["p50"],
        p99_ms=lat["p99"],
        p999_ms=lat["p99.9"],
        measured=int(lat["n"]),
        p50_created_ms=lat_created["p50"],
        p50_status_ms=lat_status["p50"],
        p99_settled_ms=lat_settled["p99"],
        cores=round(cores, 2),
    )
