"""Order lifecycle on the real broker: SLA reminders and escalations once each across a
kill -9, out-of-order and early status events, and finished orders leaving the table.

Time is the test's: SLAs of seconds, event times set by the test, ticks every 0.2 s.
"""

from __future__ import annotations

import itertools
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streams.classify.rules import default_text
from tests.integration import events as ev
from tests.integration.harness import (
    CLASSIFIED,
    DEADLETTER,
    NOTIFICATIONS,
    Kafka,
    Record,
    Worker,
    wait_for,
)

FAST_SLAS = """
slas:
  - id: confirm-fast
    statuses: [new]
    within: 4s
    escalate_after: 4s
    ladder: [sales_rep, sales_manager, regional_director]
"""


def rules_file(tmp: Path) -> Path:
    head = default_text().split("\nslas:\n", 1)[0]
    path = tmp / "fast-slas.yaml"
    path.write_text(head.replace("label: default", "label: fast-slas") + FAST_SLAS)
    return path


def at(event: dict[str, Any], when: datetime) -> bytes:
    return ev.dumps({**event, "occurred_at": when.isoformat()})


def values(records: list[Record]) -> list[dict[str, Any]]:
    return [ev.loads(r.value) for r in records]


def sla_notes(kafka: Kafka) -> list[dict[str, Any]]:
    notes = values(kafka.read(NOTIFICATIONS, lambda rs: True, timeout=5))
    return [n for n in notes if n["kind"] in ("sla_reminder", "sla_escalation")]


def test_sla_ladder_once_each_across_kill_9_ordering_and_retention(tmp_path: Path) -> None:
    worker = Worker(
        tmp_path,
        env_overrides={
            "ORDERTRIAGE_RULES_FILE": str(rules_file(tmp_path)),
            "ORDERTRIAGE_TICK_INTERVAL_SECONDS": "0.2",
            "ORDERTRIAGE_FINISHED_RETENTION_SECONDS": "3",
            "ORDERTRIAGE_STATUS_GRACE_SECONDS": "30",
        },
    ).start()
    kafka = Kafka(worker)
    try:
        t0 = datetime.now(UTC)
        # L: stays new -> reminder after 4 s, then two escalations 4 s apart.
        # Q: confirmed in time -> its clock stops. O: a newer change, then an older one.
        # F: walks to completed, then leaves the table after the 3 s retention.
        for oid in ("L", "Q", "O", "F"):
            kafka.created(at(ev.created(oid, f"C-{oid}", "500"), t0), oid)
        kafka.read(CLASSIFIED, lambda rs: len(rs) >= 4)  # so no change below is parked
        kafka.status(at(ev.status("Q", "new", "confirmed"), t0 + timedelta(seconds=1)), "Q")
        kafka.status(at(ev.status("O", "new", "confirmed"), t0 + timedelta(seconds=2)), "O")
        kafka.status(at(ev.status("O", "confirmed", "processing"), t0 + timedelta(seconds=1)), "O")
        walk = ["new", "confirmed", "processing", "shipped", "delivered", "completed"]
        for i, (a, b) in enumerate(itertools.pairwise(walk)):
            kafka.status(at(ev.status("F", a, b), t0 + timedelta(seconds=1 + i * 0.1)), "F")
        # E: its status change arrives before the order itself (parked, then applied).
        kafka.status(at(ev.status("E", "new", "cancelled"), t0 + timedelta(seconds=1)), "E")
        kafka.created(at(ev.created("E", "C-E", "500"), t0), "E")

        wait_for(lambda: any(n["order_id"] == "L" for n in sla_notes(kafka)), 30, "L reminded")
        worker.stop(signal.SIGKILL)  # mid-ladder
        worker.start(timeout=150)
        wait_for(
            lambda: len({n["notification_id"] for n in sla_notes(kafka)}) >= 3,
            60,
            "L's three ladder steps",
        )

        notes = sla_notes(kafka)
        ids = Counter(n["notification_id"] for n in notes)
        assert len(ids) == 3  # never a new id for a step already sent
        steps = {n["notification_id"]: n for n in notes}.values()
        assert sorted((n["order_id"], n["kind"], n["recipient_role"]) for n in steps) == [
            ("L", "sla_escalation", "regional_director"),
            ("L", "sla_escalation", "sales_manager"),
            ("L", "sla_reminder", "sales_rep"),
        ]
        first = min(datetime.fromisoformat(n["created_at"]) for n in steps)
        assert first >= t0 + timedelta(seconds=4)  # not before the deadline

        overdue = worker.get("/orders/overdue").json()
        (entry,) = overdue["items"]
        assert (entry["order_id"], entry["sla_id"], entry["escalation_level"]) == (
            "L",
            "confirm-fast",
            3,
        )

        def final(oid: str) -> dict[str, Any]:
            return worker.get(f"/orders/{oid}").json()

        assert final("Q")["status"] == "confirmed"
        assert final("O")["status"] == "confirmed"
        dead = kafka.read(DEADLETTER, lambda rs: len(rs) >= 1, timeout=30)
        # Distinct source records: a kill -9 may dead-letter one twice (at least once).
        distinct = {
            (h["ordertriage.dlq.source_partition"], h["ordertriage.dlq.source_offset"]): h[
                "ordertriage.dlq.reason_code"
            ]
            for h in (dict(r.headers) for r in dead)
        }
        assert Counter(v.decode() for v in distinct.values()) == {"out_of_order": 1}
        wait_for(lambda: worker.get("/orders/F").status_code == 404, 30, "F removed")
        metrics = worker.get("/metrics").text
        assert "ordertriage_orders_expired_total" in metrics
        classified = values(kafka.read(CLASSIFIED, lambda rs: True, timeout=5))
        assert {c["order_id"] for c in classified} == {"L", "Q", "O", "E", "F"}
        # E's early change was parked, then applied; E is finished and gone after retention.
        assert [c["status"] for c in classified if c["order_id"] == "E"][-1] == "cancelled"
        wait_for(lambda: worker.get("/orders/E").status_code == 404, 30, "E removed")
    finally:
        kafka.close()
        worker.stop()
