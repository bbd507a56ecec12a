"""The verifier on the quick scenarios (CI): upstream trouble absorbed exactly, a crash between
an event's table writes repaired exactly, and a stalled stream reported by the metric and by
failing liveness. The long ones: ``make faults``."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import orjson

from streams.topics import CLASSIFIED, CREATED, DEADLETTER
from tests.faults.checker import group_lag, read_all
from tests.faults.run import FAULT_ENV, Run
from tests.faults.verifier import VALID, plan
from tests.integration import events as ev
from tests.integration.harness import Kafka, Worker, wait_for

FAULTY = "tests.faults.faulty_worker"


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


def test_a_crash_between_an_events_table_writes_is_repaired_on_replay(tmp_path: Path) -> None:
    """The worker dies after a customer's new totals reached their changelog but not the record
    of which event counted the order (taken out of the producer's buffer). The replay of the
    uncommitted input finds the order in the totals' recent offsets and writes the missing
    record without counting again: totals count every order exactly once (without the offsets
    in the totals: twice)."""
    planned = plan(120, 17)
    half = next(
        orjson.loads(p.value)["order"]["order_id"]
        for p in planned[60:]
        if p.topic == CREATED and p.expect == VALID and p.value
    )
    marker = tmp_path / "half.done"
    run = Run("half", tmp_path, module=FAULTY)
    run.env |= {"FAULT_HALF_ORDER": half, "FAULT_MARKER": str(marker)}
    try:
        w = run.workers[0].start()
        run.produce(planned).join()
        wait_for(lambda: w.proc is not None and w.proc.poll() is not None, 120, "the kill")
        assert marker.exists()
        customer = next(
            orjson.loads(p.value)["order"]["customer"]["customer_id"]
            for p in planned
            if p.topic == CREATED and p.value and half.encode() in p.value
        )
        topics = [f"ot-{w.run_id}-customers-changelog", f"ot-{w.run_id}-customer-orders-changelog"]
        read = asyncio.run(read_all(topics))
        landed = {tuple(line.split()) for line in marker.read_text().splitlines()}
        half_totals = [
            r for r in read[topics[0]] if (r.topic, str(r.partition), str(r.offset)) in landed
        ]
        assert customer.encode() in {r.key for r in half_totals}, "the half is not in Kafka"
        assert not any(r.key == f"{customer}/{half}".encode() for r in read[topics[1]])
        run.crashed = True
        run.settle(timeout=180)  # the supervisor restarts the dead worker
        report = run.verify()
        repaired = asyncio.run(read_all(topics[1:]))[topics[1]]
    finally:
        for worker in run.workers:
            worker.stop()
    assert report.ok, report.summary()
    assert any(r.key == f"{customer}/{half}".encode() for r in repaired)
    # The kill, and possibly a restart of a worker that stalled after it (the stall check's job).
    assert run.supervisor_restarts >= 1


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


def test_a_join_commits_what_was_processed_and_replays_nothing(tmp_path: Path) -> None:
    """With no periodic commit (every 10 min), only the commit at the revocation can keep a
    second worker's join from processing again what the first one did. Faust forgot the
    revoked partitions' acked offsets before committing (streams/runtime/commit_on_revoke.py):
    without it the group's offsets stayed where they were and every output came again after the
    join, and again at the next rebalance."""
    env = {**FAULT_ENV, "BROKER_COMMIT_INTERVAL": "600"}
    a = Worker(tmp_path, env_overrides=env).start(timeout=120)
    kafka = Kafka(a)
    try:
        orders = [ev.created(f"RB-{i}", f"RBC-{i % 7}", f"{100 + i}.00") for i in range(40)]
        for o in orders:
            kafka.created(orjson.dumps(o), o["order"]["order_id"])
        for i in range(3):  # bad records: dead letters, which carry their source position
            kafka.created(b"{not json " + str(i).encode(), f"RB-bad-{i}")
        kafka.read(CLASSIFIED, lambda rs: len(rs) >= len(orders))
        kafka.read(DEADLETTER, lambda rs: len(rs) >= 3)
        b = Worker(tmp_path, env_overrides=env, run_id=a.run_id, instance="b").start(timeout=120)
        app_id = f"ot-{a.run_id}"
        path = [a.topic(CREATED), f"{app_id}-orders-by-customer", f"{app_id}-orders-enriched"]

        def committed() -> bool:
            return not any(asyncio.run(group_lag(app_id, path)).values())

        wait_for(committed, 60, "the group's offsets at the end of the created path", every=1)
        # Each generation's recovery ends with the changelogs paused at the client
        # (streams/runtime/changelog_pause.py), and the next one still reads them: b recovered.
        wait_for(lambda: len(changelogs_paused(a)) >= 2, 30, "a's second recovery", every=0.5)
        assert all(n > 0 for n in changelogs_paused(a) + changelogs_paused(b)), a.tail()
        classified = kafka.read(CLASSIFIED, lambda rs: len(rs) >= len(orders))
        dead = kafka.read(DEADLETTER, lambda rs: len(rs) >= 3)
        b.stop()
    finally:
        kafka.close()
        a.stop()
    ids = [orjson.loads(r.value)["event_id"] for r in classified]
    assert sorted(ids) == sorted(o["event_id"] for o in orders)  # each exactly once
    assert len(dead) == 3


def changelogs_paused(worker: Worker) -> list[int]:
    """How many changelog partitions each of the worker's recoveries paused (its log)."""
    found = re.findall(r"recovery done: (\d+) changelog partitions", worker.log_path.read_text())
    return [int(n) for n in found]
