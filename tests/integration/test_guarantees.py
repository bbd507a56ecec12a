"""The verifier on the quick scenarios (CI): upstream trouble absorbed exactly, and a stalled
stream reported by the metric and by failing liveness. The long ones: ``make faults``."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.integration import events as ev
from tests.integration.faults import FAULT_ENV, Run
from tests.integration.harness import Kafka, Worker, wait_for
from tests.integration.verifier import plan

FAULTY = "tests.integration.faulty_worker"


def test_duplicates_disorder_and_the_bad_record_zoo_are_absorbed_exactly(tmp_path: Path) -> None:
    """10% duplicates, out-of-order status changes, every kind of bad record (1 MB and 10 MB
    values, null key, a record whose classification always raises): every valid event
    classified, every bad one dead-lettered exactly once, tables exact, lag zero."""
    run = Run("trouble", tmp_path, module=FAULTY)
    run.env |= {"ORDERTRIAGE_STATUS_GRACE_SECONDS": "3"}
    try:
        run.workers[0].start()
        planned = plan(300, 13, duplicate_share=0.1, out_of_order_share=0.1, zoo=True, poison=1)
        run.produce(planned).join()
        assert len(run.inputs.sent) == len(planned)
        run.settle(timeout=120)
        report = run.verify()
    finally:
        for w in run.workers:
            w.stop()
    assert report.ok, report.summary()
    assert report.dead_letters >= 13 + len(planned) // 20  # the zoo, poison and duplicates
    assert report.duplicate_outputs == 0


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not exposed"
    return float(match.group(1))


def test_a_stalled_stream_fails_liveness_and_readiness(tmp_path: Path) -> None:
    env = {**FAULT_ENV, "ORDERTRIAGE_STALL_SECONDS": "5"}
    worker = Worker(tmp_path, env_overrides=env, module=FAULTY).start()
    kafka = Kafka(worker)
    try:
        assert worker.get("/healthz").status_code == 200
        kafka.created(ev.dumps(ev.created("OK-1", "C-S", "10.00")), "OK-1")
        wait_for(lambda: worker.get("/orders/OK-1").status_code == 200, 30, "OK-1 classified")
        assert metric(worker.get("/metrics").text, "ordertriage_stalled_seconds") == 0
        # The order agent hangs on this order; records keep arriving behind it.
        kafka.created(ev.dumps(ev.created("STALL-1", "C-S", "10.00")), "STALL-1")
        for i in range(5):
            kafka.status(ev.dumps(ev.status("OK-1", "new", "confirmed", minutes=i)), "OK-1")
        wait_for(lambda: worker.get("/healthz").status_code == 503, 40, "/healthz failing")
        body = worker.get("/healthz").json()
        assert body["status"] == "stalled" and body["stalled_seconds"] >= 5
        ready = worker.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["not_stalled"] is False
        text = worker.get("/metrics").text
        assert metric(text, "ordertriage_stalled_seconds") >= 4  # a gauge sampled each second
        assert metric(text, "ordertriage_consumer_lag_records") > 0
        assert worker.proc is not None and worker.proc.poll() is None  # alive, yet stuck
    finally:
        kafka.close()
        worker.stop(signal.SIGKILL)  # what the supervisor does; a stuck agent delays SIGTERM
