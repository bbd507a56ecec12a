"""Any producer, two workers: status changes partitioned by librdkafka's default partitioner
(CRC-32 of the key, confluent-kafka's default) stay exact by the verifier.

Before the re-keying hop, 3,000 orders produced so with two workers ended with 1,249 at the
wrong status and 4,069 valid status changes dead-lettered as ``unknown_order``. The long
versions (3,000 orders, 2 and 4 workers, scaling 1 -> 4 -> 1) are ``make faults-workers``.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from tests.faults.run import Run
from tests.faults.verifier import plan
from tests.integration.harness import Worker, wait_for

MISROUTED = re.compile(
    r'^ordertriage_misrouted_records_total\{pattern="([^"]+)",topic="([^"]+)"\} (\S+)$', re.M
)


def misrouted(workers: list[Worker], topic: str) -> dict[str, float]:
    """Misrouted records of ``topic`` per producer pattern, summed over the workers."""
    found: dict[str, float] = {}
    for w in workers:
        for pattern, name, n in MISROUTED.findall(w.get("/metrics").text):
            if name == topic:
                found[pattern] = found.get(pattern, 0.0) + float(n)
    return found


def test_librdkafka_default_partitioner_with_two_workers_is_exact(tmp_path: Path) -> None:
    run = Run("librdkafka", tmp_path)
    a, b = run.workers[0].start(timeout=180), run.worker("b").start(timeout=180)
    planned = plan(400, 7)
    run.produce(planned, rate=0, client="librdkafka").join()
    status = a.topic("orders.status-changed")
    created = [orjson.loads(p.value or b"{}") for p in planned if p.topic == "orders.created"]
    sample = sorted(e["order"]["order_id"] for e in created)[:20]
    try:
        # Every order answers from either worker (the one not owning it forwards the query).
        last: dict[tuple[str, str], int] = {}

        def served() -> bool:
            for w in (a, b):
                for o in sample:
                    last[w.instance, o] = w.get(f"/orders/{o}").status_code
            return all(code == 200 for code in last.values())

        try:
            wait_for(served, 180, "sampled orders served by both workers", every=1)
        except AssertionError as exc:  # say which worker answered what
            wrong = {f"{w}:{o}": code for (w, o), code in last.items() if code != 200}
            raise AssertionError(f"{exc}; not 200: {wrong}") from None
        wait_for(lambda: bool(misrouted([a, b], status)), 60, "misrouted records counted")
        patterns = misrouted([a, b], status)
        details = [w.get("/readyz").json().get("misrouted_inputs", {}) for w in (a, b)]
        run.settle(timeout=600)
        report = run.verify()
    finally:
        for w in run.workers:
            w.stop()
    assert report.ok, report.summary()
    assert set(patterns) == {"librdkafka_consistent"}, patterns
    fixes = [d[status]["librdkafka_consistent_fix"] for d in details if status in d]
    assert fixes and all("murmur2_random" in fix for fix in fixes)
