"""Staff KPIs end to end on the real broker: status changes, corrections and feedback answered
by people, counted by the worker, equal to the test's own computation from what it produced."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from streams.topics import CORRECTIONS, FEEDBACK_CLASSIFIED, FEEDBACK_RECEIVED, FEEDBACK_STATUS
from tests.integration import events as ev
from tests.integration.harness import CLASSIFIED, Kafka, Worker, wait_for

WALK = ["new", "confirmed", "processing", "shipped"]
# order id -> who makes each step of WALK, and the minutes after T0 it happens
PLAN = {
    "SO-1": [("li.wei", 5), ("tom.hill", 35), ("li.wei", 95)],
    "SO-2": [("tom.hill", 10), ("tom.hill", 20)],
    "SO-3": [("li.wei", 7)],
}


def correction(n: int, order_id: str, value: str, by: str) -> bytes:
    return ev.dumps(
        {
            "event_id": f"C-{n}",
            "schema_version": 1,
            "occurred_at": (ev.T0 + timedelta(minutes=1 + n)).isoformat(),
            "order_id": order_id,
            "dimension": "value_tier",
            "value": value,
            "corrected_by": by,
        }
    )


def expected() -> dict[str, dict[str, Any]]:
    """Each person's KPIs from PLAN, computed here: what the worker must answer."""
    handled: Counter[str] = Counter()
    held: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for steps in PLAN.values():
        holder, since = None, 0
        for n, (by, minute) in enumerate(steps):
            handled[by] += 1
            if holder is not None:  # the order leaves WALK[n], held since `since`
                held[holder][WALK[n]].append((minute - since) * 60.0)
            holder, since = by, minute
    return {
        p: {"orders_handled": handled[p], "held": {s: sum(v) for s, v in held[p].items()}}
        for p in handled
    }


def test_kpis_per_person_equal_the_tests_own_count(worker: Worker, kafka: Kafka) -> None:
    for order_id in PLAN:
        kafka.created(ev.dumps(ev.created(order_id, f"C-{order_id}", "500.00")), order_id)
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= len(PLAN))
    # Corrections first (before any status change): li.wei sets SO-1's tier, anna.berg
    # overrides her, and anna.berg corrects SO-2 (a rule's value: received by nobody).
    for n, (order_id, value, by) in enumerate(
        [("SO-1", "medium", "li.wei"), ("SO-1", "high", "anna.berg"), ("SO-2", "high", "anna.berg")]
    ):
        kafka.send(CORRECTIONS, correction(n, order_id, value, by), order_id.encode())
    for order_id, steps in PLAN.items():
        for n, (by, minute) in enumerate(steps):
            change = ev.status(order_id, WALK[n], WALK[n + 1], minutes=minute)
            change["changed_by"] = by
            kafka.status(ev.dumps(change), order_id)
    # A feedback answered by chen.jing: acknowledged after 10 min, resolved after 60,
    # reopened, resolved again after 120.
    kafka.send(
        FEEDBACK_RECEIVED,
        ev.dumps(
            ev.feedback("FB-1", "发票抬头开错了,多扣了两百块钱,麻烦退一下差价", customer_id="C-7")
        ),
        b"FB-1",
    )
    # The desk must hold the feedback before its status changes arrive (they take a shorter
    # path than the case, which passes the order book: an earlier one is dead-lettered).
    kafka.read(FEEDBACK_CLASSIFIED, lambda rs: any(r.key == b"FB-1" for r in rs))
    for status, minute in (
        ("acknowledged", 10),
        ("resolved", 60),
        ("reopened", 70),
        ("resolved", 120),
    ):
        event = ev.feedback_status("FB-1", status, by="chen.jing", minutes=minute)
        kafka.send(FEEDBACK_STATUS, ev.dumps(event), b"FB-1")

    want = expected()

    def person(pid: str) -> dict[str, Any] | None:
        response = worker.get(f"/staff/{pid}")
        return response.json() if response.status_code == 200 else None

    def caught_up() -> bool:
        views = {p: person(p) for p in [*want, "anna.berg", "chen.jing"]}
        if any(v is None for v in views.values()):
            return False
        handled = all(
            views[p]["total"]["orders_handled"] == w["orders_handled"] for p, w in want.items()
        )
        chen = views["chen.jing"]["total"]
        return handled and chen["resolved"] == 2 and views["li.wei"]["corrections_received"] != {}

    wait_for(caught_up, 90, "the staff KPIs of this run")
    for pid, w in want.items():
        view = person(pid)
        assert view is not None
        assert view["total"]["orders_handled"] == w["orders_handled"], (pid, view)
        got_held = {s: h["total_seconds"] for s, h in view["held"].items()}
        assert got_held == w["held"], (pid, view["held"])
    li, anna, chen = person("li.wei"), person("anna.berg"), person("chen.jing")
    assert li is not None and anna is not None and chen is not None
    assert li["corrections_made"] == {"value_tier": 1}
    assert li["corrections_received"] == {"value_tier": 1}  # anna.berg overrode her
    assert anna["corrections_made"] == {"value_tier": 2} and anna["corrections_received"] == {}
    fb = chen["total"]
    assert (fb["first_responses"], fb["resolved"], fb["reopened"]) == (1, 2, 1)
    assert fb["reopen_rate"] == 0.5
    team = worker.get("/staff?team=unassigned")
    assert team.status_code == 200
    assert {p["person"] for p in team.json()["people"]} >= {"li.wei", "tom.hill", "anna.berg"}


def test_a_busy_persons_record_reaches_the_changelog_once_per_commit(
    worker: Worker, kafka: Kafka
) -> None:
    """The record cache (streams.runtime.write_cache): 30 status changes by one person within a
    few commits leave far fewer than 30 records of that person in the staff changelog, and the
    last one holds all 30 (the flush before each commit sends it)."""
    orders = [f"SO-B{n}" for n in range(10)]
    for order_id in orders:
        kafka.created(ev.dumps(ev.created(order_id, f"C-{order_id}", "500.00")), order_id)
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= len(orders))
    for order_id in orders:
        for n in range(3):
            change = ev.status(order_id, WALK[n], WALK[n + 1], minutes=5 + n)
            change["changed_by"] = "bulk.clerk"
            kafka.status(ev.dumps(change), order_id)

    def mine(records: list[Any]) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in records if r.key == b"bulk.clerk" and r.value]

    records = kafka.read_changelog(
        "staff", lambda rs: any(v["total"]["status_changes"] == 30 for v in mine(rs)), 90
    )
    values = mine(records)
    assert values[-1]["total"]["status_changes"] == 30
    assert len(values) < 15, f"{len(values)} changelog records for 30 changes: not coalesced"
