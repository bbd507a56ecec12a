"""streams.classify.actions: an acknowledged SLA notification stops its clock's escalation."""

from __future__ import annotations

import uuid
from datetime import timedelta

from schemas.events import Notification, OrderAction, Status
from streams.classify import actions, sla
from streams.classify.rules import RuleSet
from tests.unit.conftest import NOW, classify, make_customer, make_order

RULES = RuleSet.default()


def _action(n: Notification, kind: str = "ack", by: str = "li.wei") -> OrderAction:
    return OrderAction(
        action_id=str(uuid.uuid4()),
        action=kind,  # type: ignore[arg-type]
        order_id=n.order_id,
        notification_id=n.notification_id,
        kind=n.kind,
        rule_id=n.rule_id,
        cause_event_id=n.cause_event_id,
        by=by,
        acted_at=NOW,
    )


def _p1() -> tuple[object, list[sla.SlaClock]]:
    record = classify(make_order(total="20000", customer=make_customer(vip=True)))
    return record, sla.start(RULES.slas, Status.NEW, NOW, {"priority": "P1"}, [])


def test_ack_of_the_reminder_stops_the_escalation_ladder() -> None:
    record, clocks = _p1()
    clocks, due = sla.fire_due(clocks, record, NOW + timedelta(minutes=121))  # type: ignore[arg-type]
    ((step, reminder),) = due
    assert step == 0 and reminder.kind == "sla_reminder"
    applied = actions.apply_action(clocks, _action(reminder))
    assert applied.stopped == ["confirm-p1"] and applied.assignee is None
    later, escalations = sla.fire_due(applied.clocks, record, NOW + timedelta(days=2))  # type: ignore[arg-type]
    assert escalations == [] and sla.next_wakeup(later) is None
    # Without the ack, the same clocks would have escalated twice more.
    _, unacked = sla.fire_due(clocks, record, NOW + timedelta(days=2))  # type: ignore[arg-type]
    assert [s for s, _ in unacked] == [1, 2]


def test_applying_twice_changes_nothing_and_a_claim_names_the_assignee() -> None:
    record, clocks = _p1()
    clocks, ((_, reminder),) = sla.fire_due(clocks, record, NOW + timedelta(minutes=121))  # type: ignore[arg-type]
    once = actions.apply_action(clocks, _action(reminder, "claim", "wang.fang"))
    twice = actions.apply_action(once.clocks, _action(reminder, "claim", "wang.fang"))
    assert once.assignee == "wang.fang" and twice.clocks == once.clocks and twice.stopped == []


def test_an_old_link_does_not_silence_a_clock_started_later() -> None:
    record, clocks = _p1()
    clocks, ((_, reminder),) = sla.fire_due(clocks, record, NOW + timedelta(minutes=121))  # type: ignore[arg-type]
    # The order left and re-entered `new`: a new clock, started by another status event.
    restarted = sla.start(RULES.slas, Status.NEW, NOW + timedelta(hours=3), {"priority": "P1"}, [])
    applied = actions.apply_action(restarted, _action(reminder))
    assert applied.stopped == [] and applied.clocks == restarted


def test_a_rule_notification_ack_leaves_the_clocks_alone() -> None:
    _, clocks = _p1()
    n = Notification(
        notification_id="n-1",
        kind="big_order",
        recipient_role="ops",
        severity="high",
        order_id="o-1",
        message="big",
        cause_event_id="evt-1",
        priority="P1",  # type: ignore[arg-type]
        rules_version="v",
        created_at=NOW,
        rule_id="big_order",
    )
    applied = actions.apply_action(clocks, _action(n))
    assert applied.clocks == clocks and applied.stopped == []
    assert actions.sla_cause("evt-1") is None
    assert actions.sla_cause("sla:ship-3d:confirmed@2026-01-01T00:00:00+00:00:2") == (
        "ship-3d",
        "confirmed@2026-01-01T00:00:00+00:00",
    )
