"""Customer care on the real broker: C-1 moves new -> regular -> at_risk -> won_back with the
right follow-up tasks, none lost or doubled across a kill -9 under a burst of other customers.

Time. Facts move a customer at their own event time, but ticks advance every customer to the
worker's wall clock, and moves are stamped at the instant they became true. A single-order
customer is at risk ``at_risk.floor`` (45 days) after that order, and two orders never make the
threshold shorter than the floor, so C-1's first order is placed ``45 days - MARGIN`` ago: C-1
stays new (then regular) for ``MARGIN`` of wall time, enough for its delivery and second order
to arrive, and is at risk ``45 days`` after the second order, a few seconds of wall time
after that, whoever notices: the worker before the kill, or the restarted one.
"""

from __future__ import annotations

import itertools
import signal
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from streams.classify import care, followups
from streams.topics import FOLLOWUP_DONE, FOLLOWUPS, SEGMENTS
from tests.integration import events as ev
from tests.integration.harness import (
    DEADLETTER,
    NOTIFICATIONS,
    Kafka,
    Worker,
    dead_letter_original,
    wait_for,
)

#: Wall time C-1 stays new after its first order (covers its delivery and second order).
MARGIN = timedelta(seconds=75)  # wall time for C-1 to become regular, under load too
FLOOR = timedelta(days=45)  # segments.at_risk.floor of the shipped rules
WALK = ["new", "confirmed", "processing", "shipped", "delivered"]
#: Other customers: regulars (an order before the kill, another in the burst), new ones
#: (an order before the kill, the delivered ones walked to delivered in the burst) and
#: burst-only new customers (one order each in the burst).
REGULARS = [f"C-R{n}" for n in range(1, 9)]
NEWS = [f"C-N{n}" for n in range(1, 9)]
DELIVERED = NEWS[::2]
BURST = [f"C-B{n}" for n in range(1, 41)]
DLQ = "ordertriage.dlq."

Value = dict[str, Any]


def at(event: Value, when: datetime) -> bytes:
    return ev.dumps({**event, "occurred_at": when.isoformat()})


def order(kafka: Kafka, order_id: str, customer_id: str, when: datetime | None = None) -> None:
    event = ev.created(order_id, customer_id, "500.00")
    kafka.created(at(event, when) if when else ev.dumps(event), order_id)


def walk(kafka: Kafka, order_id: str, start: datetime, step: timedelta) -> None:
    for n, (a, b) in enumerate(itertools.pairwise(WALK)):
        kafka.status(at(ev.status(order_id, a, b), start + (n + 1) * step), order_id)


def read(
    kafka: Kafka, topic: str, until: Callable[[list[Value]], bool], timeout: float = 60
) -> list[Value]:
    records = kafka.read(topic, lambda rs: until([ev.loads(r.value) for r in rs]), timeout)
    return [ev.loads(r.value) for r in records]


def distinct(values: list[Value], key: str) -> dict[str, list[Value]]:
    """Records per ``key`` value, in order of first appearance."""
    out: dict[str, list[Value]] = defaultdict(list)
    for v in values:
        out[v[key]].append(v)
    return out


def moves(values: list[Value], customer_id: str) -> list[tuple[str | None, str]]:
    """A customer's segment moves, each event id once, in the order first sent."""
    mine = distinct([v for v in values if v["customer_id"] == customer_id], "event_id")
    return [(copies[0]["from"], copies[0]["to"]) for copies in mine.values()]


def tasks(values: list[Value], customer_id: str) -> dict[str, list[Value]]:
    return distinct([v for v in values if v["customer_id"] == customer_id], "task_id")


def statuses(copies: list[Value]) -> list[str]:
    return list(dict.fromkeys(c["status"] for c in copies))


def same_content_per_id(values: list[Value], *key: str) -> None:
    """At least once with stable ids: every copy sent under one id is the same record."""
    groups: dict[tuple[str, ...], list[Value]] = defaultdict(list)
    for v in values:
        groups[tuple(v[k] for k in key)].append(v)
    for ident, copies in groups.items():
        assert all(c == copies[0] for c in copies), (ident, copies)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_a_customer_moves_new_regular_at_risk_won_back_across_a_kill_9(tmp_path: Path) -> None:
    worker = Worker(tmp_path, env_overrides={"ORDERTRIAGE_STATUS_GRACE_SECONDS": "30"}).start()
    kafka = Kafka(worker)
    try:
        # Warm-up: the other customers' first orders, all applied before C-1 starts (so the
        # burst's status changes find their orders, and C-1's margin is not spent on them).
        for cid in REGULARS + NEWS:
            order(kafka, f"SO-{cid}-1", cid)
        read(kafka, SEGMENTS, lambda vs: len({v["customer_id"] for v in vs}) >= 16)

        # C-1: a first order 45 days - MARGIN ago, delivered: new, with a welcome call.
        now = datetime.now(UTC)
        a_at = now - FLOOR + MARGIN
        order(kafka, "SO-A", "C-1", a_at)
        walk(kafka, "SO-A", a_at, timedelta(milliseconds=200))
        delivered_at = a_at + 4 * timedelta(milliseconds=200)
        welcome = followups.task_id("C-1", "welcome-call", "first_delivery")
        read(kafka, FOLLOWUPS, lambda vs: any(v["task_id"] == welcome for v in vs))
        # A second order two seconds later (event time): regular; at risk 45 days after it.
        b_at = a_at + timedelta(seconds=2)
        order(kafka, "SO-B", "C-1", b_at)
        regular = read(kafka, SEGMENTS, lambda vs: len(moves(vs, "C-1")) >= 2)
        assert moves(regular, "C-1")[:2] == [(None, "new"), ("new", "regular")], (
            f"C-1's second order came over {MARGIN} after its first: {moves(regular, 'C-1')}"
        )

        # The burst: other customers' orders and deliveries, and the welcome call done; then
        # kill -9 while it is being processed and C-1's at-risk timer is pending.
        for cid in REGULARS:
            order(kafka, f"SO-{cid}-2", cid)
        for cid in DELIVERED:
            walk(kafka, f"SO-{cid}-1", ev.T0, timedelta(minutes=1))
        for cid in BURST:
            order(kafka, f"SO-{cid}-1", cid)
        done_at = datetime.now(UTC)
        done = {
            "event_id": "fd-1",
            "schema_version": 1,
            "occurred_at": done_at.isoformat(),
            "task_id": welcome,
            "customer_id": "C-1",
            "done_by": "li.wei",
            "outcome": "called; happy",
        }
        kafka.send(FOLLOWUP_DONE, ev.dumps(done), b"C-1")
        worker.stop(signal.SIGKILL)
        worker.start(timeout=150)  # same app id, data dir and port: the dead member's successor

        # After the restart: C-1 at risk (the timer survived), then an order wins them back.
        win_back = followups.task_id("C-1", "win-back-offer", "entered:at_risk:3")
        read(kafka, FOLLOWUPS, lambda vs: any(v["task_id"] == win_back for v in vs), 180)
        c_at = datetime.now(UTC)
        order(kafka, "SO-C", "C-1", c_at)
        # A done for no task of C-1's: dead-lettered (and, keyed by C-1, it comes after any
        # dead letter C-1's own done could have got: the marker that the read below is whole).
        unknown = {**done, "event_id": "fd-2", "task_id": "no-such-task"}
        kafka.send(FOLLOWUP_DONE, ev.dumps(unknown), b"C-1")

        def settled(vs: list[Value]) -> bool:
            others = all(len(moves(vs, c)) >= 2 for c in REGULARS) and all(
                len(moves(vs, c)) >= 1 for c in NEWS + BURST
            )
            return others and len(moves(vs, "C-1")) >= 4

        segments = read(kafka, SEGMENTS, settled, 90)

        def closed(vs: list[Value]) -> bool:
            mine = tasks(vs, "C-1")
            done = all(t in mine and mine[t][-1]["status"] == "done" for t in (welcome, win_back))
            return done and all(tasks(vs, c) for c in DELIVERED)

        steps = {followups.notification_id(welcome, n) for n in (0, 1)}
        try:
            tasks_out = read(kafka, FOLLOWUPS, closed, 60)
        except AssertionError as exc:  # say which dead letters there were, too
            try:
                dead = kafka.read(DEADLETTER, bool, 10)
            except AssertionError:
                dead = []
            letters = [dict(r.headers).get(f"{DLQ}reason", b"")[:200] for r in dead]
            raise AssertionError(f"{exc}\ndead letters: {letters}") from None
        notes = read(kafka, NOTIFICATIONS, lambda vs: steps <= {v["notification_id"] for v in vs})
        dead = kafka.read(
            DEADLETTER, lambda rs: any(b"no-such-task" in dead_letter_original(r) for r in rs)
        )

        # C-1's moves: exactly these four, each id once (copies identical), stamped when true.
        assert moves(segments, "C-1") == [
            (None, "new"),
            ("new", "regular"),
            ("regular", "at_risk"),
            ("at_risk", "won_back"),
        ]
        same_content_per_id(segments, "event_id")
        c1 = distinct([v for v in segments if v["customer_id"] == "C-1"], "event_id")
        assert list(c1) == [
            care.event_id("C-1", n, to) for n, (_, to) in enumerate(moves(segments, "C-1"), 1)
        ]
        new, reg, risk, back = (copies[0] for copies in c1.values())
        assert [ts(m["occurred_at"]) for m in (new, reg, risk, back)] == [
            a_at,
            b_at,
            b_at + FLOOR,
            c_at,
        ]
        assert risk["rfm"]["frequency"] == 2 and risk["rfm"]["recency_days"] == 45
        assert {k: Decimal(v) for k, v in risk["rfm"]["monetary"].items()} == {"CNY": Decimal(1000)}
        assert back["rfm"]["frequency"] == 3

        # C-1's tasks: one per strategy, opened once, each status sent with one content.
        same_content_per_id(tasks_out, "task_id", "status")
        mine = tasks(tasks_out, "C-1")
        assert {t: copies[0]["strategy_id"] for t, copies in mine.items()} == {
            welcome: "welcome-call",
            win_back: "win-back-offer",
        }
        # The welcome call: opened at the delivery, reminded and escalated on the first tick (both
        # were past due), done by li.wei in the burst before the kill.
        assert statuses(mine[welcome]) == ["open", "escalated", "done"]
        w = mine[welcome][-1]
        assert (w["owner_role"], w["trigger"]) == ("sales_rep", "first_delivery")
        assert ts(w["opened_at"]) == delivered_at and ts(w["due_at"]) == delivered_at + timedelta(
            days=3
        )
        assert (w["done_by"], w["outcome"], ts(w["done_at"])) == (
            "li.wei",
            "called; happy",
            done_at,
        )
        # The win-back offer: opened on entering at_risk, closed by the order that won them back.
        assert statuses(mine[win_back]) == ["open", "done"]
        b = mine[win_back][-1]
        assert b["owner_role"] == "retention_team" and ts(b["opened_at"]) == b_at + FLOOR
        assert ts(b["due_at"]) == b_at + FLOOR + timedelta(days=2)
        assert (b["done_by"], ts(b["done_at"])) == ("ordertriage", c_at)
        assert b["outcome"] == "customer moved from at_risk to won_back"
        # Its two steps notified once each (a re-send carries the same id and content).
        followup_notes = [n for n in notes if n.get("task_id") in mine]
        same_content_per_id(followup_notes, "notification_id")
        assert {n["notification_id"]: n["kind"] for n in followup_notes} == {
            followups.notification_id(welcome, 0): "followup_reminder",
            followups.notification_id(welcome, 1): "followup_escalation",
        }

        # The one done sent was applied once, across the kill: never taken for a producer's
        # re-send of it (duplicate_event); only the done for no task is dead-lettered.
        letters = [{k: v.decode() for k, v in r.headers} for r in dead]
        assert [(h[f"{DLQ}reason_code"], h[f"{DLQ}source_topic"]) for h in letters] == [
            ("unknown_task", worker.topic(FOLLOWUP_DONE))
        ], letters

        # The others: regulars moved twice, the new ones once; the delivered ones have a welcome
        # call (open: due in three days), nobody else a task.
        for cid in REGULARS:
            assert moves(segments, cid) == [(None, "new"), ("new", "regular")], cid
        for cid in NEWS + BURST:
            assert moves(segments, cid) == [(None, "new")], cid
        others = {v["customer_id"] for v in tasks_out} - {"C-1"}
        assert others == set(DELIVERED)
        for cid in DELIVERED:
            (tid,) = tasks(tasks_out, cid)
            assert tid == followups.task_id(cid, "welcome-call", "first_delivery")
            assert statuses(tasks(tasks_out, cid)[tid]) == ["open"]

        # The HTTP answers agree with the topics.
        def care_of(cid: str) -> Value | None:
            response = worker.get(f"/customers/{cid}")
            return response.json()["care"] if response.status_code == 200 else None

        wait_for(lambda: (care_of("C-1") or {}).get("segment") == "won_back", 30, "C-1 served")
        summary = care_of("C-1")
        assert summary is not None
        assert summary["history"] == [copies[0] for copies in c1.values()]
        assert summary["since"] is not None and ts(summary["since"]) == c_at
        assert summary["rfm"]["frequency"] == 3 and summary["open_followups"] == []
        latest = [copies[-1] for copies in distinct(tasks_out, "task_id").values()]
        still_open = sorted(
            (t for t in latest if t["status"] != "done"), key=lambda t: (t["due_at"], t["task_id"])
        )
        assert len(still_open) == len(DELIVERED)
        wait_for(lambda: worker.get("/followups").status_code == 200, 30, "GET /followups")
        body = worker.get("/followups").json()
        assert body["total"] == len(still_open)
        assert [{k: v for k, v in i.items() if k != "overdue"} for i in body["items"]] == still_open
        assert not any(i["overdue"] for i in body["items"])
        for cid in DELIVERED:
            view = care_of(cid)
            assert view is not None and view["segment"] == "new"
            assert [t["task_id"] for t in view["open_followups"]] == list(tasks(tasks_out, cid))
    finally:
        kafka.close()
        worker.stop()
