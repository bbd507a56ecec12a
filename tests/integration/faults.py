"""Fault scenarios on the real broker, each judged by the verifier; a summary table at the end.

``python -m tests.integration.faults [scenario ...]`` (``make faults``, ``make soak``,
``make backlog``). Each scenario gets its own topics and group, produces a seeded stream while
it hurts the workers or the broker, waits until the group has committed everything, stops the
workers and runs ``checker.check``. The runner is also the supervisor a deployment would have:
a worker that exits or fails ``/healthz`` three times in a row is killed and started again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from streams.topics import CLASSIFIED
from tests.integration.checker import check, group_lag, missing_dead_letters
from tests.integration.harness import Worker, wait_for
from tests.integration.verifier import Inputs, Planned, Report, plan

KAFKA = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "kafka.sh"
#: Shorter than Faust's 60 s, so a killed member is replaced within seconds (heartbeats: 1 s).
FAULT_ENV = {
    "BROKER_SESSION_TIMEOUT": "10",
    "BROKER_HEARTBEAT_INTERVAL": "1",
    "ORDERTRIAGE_STATUS_GRACE_SECONDS": "30",
    "ORDERTRIAGE_MAX_VALUE_BYTES": "1048576",
    "ORDERTRIAGE_STALL_SECONDS": "60",
}


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Run:
    """One scenario: its workers (same app id and topics), inputs, and what was measured."""

    name: str
    tmp: Path
    env: dict[str, str] = field(default_factory=lambda: dict(FAULT_ENV))
    module: str = "streams.cli"
    workers: list[Worker] = field(default_factory=list)
    recoveries: list[float] = field(default_factory=list)
    supervisor_restarts: int = 0
    peak_mib: float = 0.0
    crashed: bool = False  # restarted somewhere: dead letters may repeat

    def __post_init__(self) -> None:
        first = self.worker("a")
        self.inputs = Inputs(first.prefix)
        asyncio.run(self.inputs.create_topics())  # before any worker: 10 MB records fit
        self._sampling = True
        threading.Thread(target=self._sample, daemon=True).start()

    def worker(self, instance: str) -> Worker:
        run_id = self.workers[0].run_id if self.workers else None
        w = Worker(self.tmp, env_overrides=self.env, instance=instance, module=self.module)
        if run_id:
            w.run_id = run_id
        self.workers.append(w)
        return w

    def _sample(self) -> None:
        while self._sampling:
            for w in self.workers:
                if w.proc is not None and w.proc.poll() is None:
                    self.peak_mib = max(self.peak_mib, rss_mib(w.proc.pid))
            time.sleep(0.5)

    def produce(self, planned: list[Planned], rate: float = 0.0) -> threading.Thread:
        t = threading.Thread(target=lambda: asyncio.run(self.inputs.produce(planned, rate)))
        t.start()
        return t

    def restart(self, w: Worker, sig: int) -> None:
        """Stop ``w`` with ``sig``, start it again; the time until it is ready is a recovery."""
        started = time.monotonic()
        # Any restart may replay records processed but not committed: dead letters then
        # repeat (same source position), so "exactly once" is only demanded of unbroken runs.
        self.crashed = True
        w.stop(sig)
        w.start(timeout=180)
        self.recoveries.append(time.monotonic() - started)

    def supervise(self, w: Worker) -> None:
        """What a supervisor does: restart a worker that is gone or failing /healthz."""
        failures = 0
        while failures < 3:
            if w.proc is None or w.proc.poll() is not None:
                break
            try:
                ok = httpx.get(f"{w.url}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                ok = False
            failures = 0 if ok else failures + 1
            if ok:
                return
            time.sleep(1)
        self.supervisor_restarts += 1
        self.restart(w, signal.SIGKILL)

    def settle(self, timeout: float = 900) -> None:
        """Wait until every acknowledged input is committed and every bad one dead-lettered
        (unknown orders give up after the grace period), then stop the workers."""
        w0 = self.workers[0]
        app_id, prefix = f"ot-{w0.run_id}", w0.prefix
        # orders.classified feeds the insight agent (analytics windows, /stats).
        topics = [prefix + t for t in ("orders.created", "orders.status-changed", CLASSIFIED)]
        internal = [
            f"{app_id}-orders-by-customer",
            f"{app_id}-orders-enriched",
            f"{app_id}-insight-customers",
        ]

        waiting: list[str] = []

        def done() -> bool:
            for w in self.workers:
                if w.proc is not None:
                    self.supervise(w)
            lag = asyncio.run(group_lag(app_id, topics + internal))
            waiting[:] = [f"lag {n} on {t}" for t, n in lag.items() if n]
            if not waiting:
                waiting[:] = missing_dead_letters(self.inputs.sent, prefix)
            return not waiting

        try:
            wait_for(done, timeout, f"{self.name}: every input committed or dead-lettered", every=3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still waiting for: {'; '.join(waiting[:10])}") from exc
        for w in self.workers:
            w.stop()
        self._sampling = False

    def verify(self) -> Report:
        w = self.workers[0]
        return check(self.inputs.sent, w.prefix, f"ot-{w.run_id}", exact=not self.crashed)


def kafka_sh(*args: str) -> None:
    subprocess.run([str(KAFKA), *args], check=True, capture_output=True, timeout=300)


def restart_broker(timeout: float = 300) -> None:
    """Start the broker again. On a port in Linux's ephemeral range (32768-60999) a client
    retrying the dead broker can connect to itself (TCP simultaneous open), and that socket's
    TIME_WAIT keeps the broker from binding for a minute: try again until it binds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            kafka_sh("start")
            kafka_sh("wait-ready", "120")
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(5)  # TIME_WAIT ends on the kernel's clock, not on an event


def broker_pid() -> int:
    out = subprocess.run([str(KAFKA), "status"], capture_output=True, text=True, check=True)
    return int(out.stdout.split("pid=")[1].split()[0])


# ------------------------------------------------------------------------------------------
# scenarios: each hurts a run while it works; the runner then settles and verifies it


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
    topics = [w.prefix + "orders.created", w.prefix + "orders.status-changed"]
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


SCENARIOS: dict[str, tuple[Callable[..., None], dict[str, object]]] = {
    "trouble": (trouble, {}),
    "kill-9x5": (kill_9, {}),
    "sigterm": (sigterm, {}),
    "rebalance": (rebalance, {}),
    "broker-sigterm": (broker_outage, {"sig": signal.SIGTERM}),
    "broker-sigkill": (broker_outage, {"sig": signal.SIGKILL}),
    "state-deleted": (state_deleted, {}),
    "state-deleted-rocksdb": (state_deleted, {"store": "rocksdb://"}),
    "kill-9x5-rocksdb": (kill_9, {"store": "rocksdb://"}),
    "backlog-1m": (backlog, {}),
    "soak": (soak, {}),
}
QUICK = [
    "trouble",
    "kill-9x5",
    "kill-9x5-rocksdb",
    "sigterm",
    "rebalance",
    "state-deleted",
    "state-deleted-rocksdb",
]
BROKER = ["broker-sigterm", "broker-sigkill"]


def run_scenario(name: str, seed: int, **kwargs: object) -> tuple[Run, Report]:
    fn, defaults = SCENARIOS[name]
    tmp = Path(tempfile.mkdtemp(prefix=f"ot-{name}-"))
    module = "tests.integration.faulty_worker" if name == "trouble" else "streams.cli"
    restart_broker()  # a no-op when it runs; an earlier outage scenario may have left it down
    run = Run(name, tmp, module=module)
    args = {**defaults, **kwargs}
    store = args.pop("store", None)
    if store:
        run.env["ORDERTRIAGE_STORE"] = str(store)
    try:
        fn(run, seed, **args)
        # 15 min, or more for big backlogs: the insight agent drains orders.classified last
        # (about 900k records behind when 1M input events had drained).
        run.settle(timeout=max(900.0, len(run.inputs.sent) / 250))
        report = run.verify()
    except Exception as exc:  # the table still gets a row; the run's logs stay in tmp
        report = Report(events=len(run.inputs.sent))
        report.problem(f"{type(exc).__name__}: {exc} (logs in {tmp})")
    finally:
        for w in run.workers:
            w.stop(signal.SIGKILL)
        run._sampling = False
    if report.ok:
        shutil.rmtree(tmp, ignore_errors=True)
    return run, report


def table(rows: list[tuple[str, Run, Report]]) -> str:
    head = (
        "| scenario | events | lost | state off (dup/missed) | windows off | repeated outputs"
        " | dead letters | recovery time (max) | supervisor restarts | peak memory | result |"
    )
    lines = [head, "|" + " --- |" * 11]
    for name, run, r in rows:
        recovery = f"{max(run.recoveries):.1f} s" if run.recoveries else "-"
        lines.append(
            f"| {name} | {r.events} | {r.lost} | {r.duplicated_state} | {r.windows_off}"
            f" | {r.duplicate_outputs}"
            f" | {r.dead_letters} | {recovery} | {run.supervisor_restarts}"
            f" | {run.peak_mib:.0f} MiB | {'ok' if r.ok else 'FAILED'} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"of {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", "42")))
    parser.add_argument("--soak-minutes", type=float, default=30)
    parser.add_argument("--backlog-events", type=int, default=1_000_000)
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    rows = []
    for name in args.scenarios or QUICK + BROKER:
        extra: dict[str, object] = {}
        if name == "soak":
            extra["minutes"] = args.soak_minutes
        if name == "backlog-1m":
            extra["events"] = args.backlog_events
        started = time.monotonic()
        run, report = run_scenario(name, args.seed, **extra)
        took = time.monotonic() - started
        print(f"{name}: {'ok' if report.ok else 'FAILED'} in {took:.0f} s; {report.summary()}")
        print(table([(name, run, report)]).splitlines()[-1], flush=True)  # the row, at once
        rows.append((name, run, report))
    print(table(rows))
    return 0 if all(r.ok for _, _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
