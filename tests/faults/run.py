"""One fault run: its workers, its inputs, a supervisor, settling, and the verifier's report.

The runner is also the supervisor a deployment would have: a worker that exits or fails
``/healthz`` three times in a row is killed and started again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka.errors import KafkaError

from streams.topics import CLASSIFIED
from tests.faults.checker import check, group_lag, missing_dead_letters
from tests.faults.verifier import Inputs, Planned, Report
from tests.integration.harness import Worker, wait_for

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
    partitions: int = 4

    def __post_init__(self) -> None:
        self.env["ORDERTRIAGE_TOPIC_PARTITIONS"] = str(self.partitions)
        if os.environ.get("KAFKA_BROKERS") == "3":  # every topic replicated, acks=all needs 2
            self.env["ORDERTRIAGE_TOPIC_REPLICATION_FACTOR"] = "3"
            self.env["ORDERTRIAGE_TOPIC_MIN_INSYNC_REPLICAS"] = "2"
        first = self.worker("a")
        self.inputs = Inputs(first.prefix)
        # Before any worker: 10 MB records fit.
        asyncio.run(self.inputs.create_topics(self.partitions))
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

    def produce(
        self, planned: list[Planned], rate: float = 0.0, client: str = "aiokafka"
    ) -> threading.Thread:
        t = threading.Thread(target=lambda: asyncio.run(self.inputs.produce(planned, rate, client)))
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
            f"{app_id}-status-rerouted",
            f"{app_id}-insight-customers",
        ]

        waiting: list[str] = []

        def done() -> bool:
            for w in self.workers:
                if w.proc is not None:
                    self.supervise(w)
            try:
                lag = asyncio.run(group_lag(app_id, topics + internal))
            except KafkaError as exc:  # e.g. the coordinator still loading after an outage
                if not exc.retriable:
                    raise
                waiting[:] = [f"the broker: {exc!r}"]
                return False
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
